"""`python -m moonlite` runs the command line."""

from moonlite.cli import main

raise SystemExit(main())
