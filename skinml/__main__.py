"""`python -m skinml ...`: the command line."""

from skinml.cli import main

raise SystemExit(main())
