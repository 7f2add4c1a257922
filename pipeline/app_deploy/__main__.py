"""Entry point for `python -m pipeline.app_deploy`."""

from pipeline.app_deploy.cli import main

raise SystemExit(main())
