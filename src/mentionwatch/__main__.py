"""`python -m mentionwatch` runs the CLI."""

from mentionwatch.cli import main

if __name__ == "__main__":
    main()
