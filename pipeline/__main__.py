"""`python -m pipeline`: the org sync command line."""

from pipeline.cli import main
from pipeline.common.cli import exit_process

exit_process(main())
