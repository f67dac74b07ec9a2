"""Built-in source adapters, one file per service, each registered as a `mentionwatch.sources` entry point."""
