"""`python -m bot`: the same command line as `mesabot`."""

from bot.cli import main

if __name__ == "__main__":
    main()
