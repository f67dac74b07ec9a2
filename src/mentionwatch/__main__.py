"""`python -m mentionwatch` runs the CLI."""

from mentionwatch.launch import main

if __name__ == "__main__":
    main()
