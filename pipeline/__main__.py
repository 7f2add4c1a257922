"""`python -m pipeline`: the org sync command line."""

from pipeline.cli import main

raise SystemExit(main())
