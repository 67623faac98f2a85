"""`python -m moonlite` runs the command line."""

from moonlite.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
