"""`python -m pipeline.app_deploy`: the app deploy command's public name (its code is pipeline.apps.app_deploy)."""

from pipeline.apps.app_deploy.cli import main
from pipeline.common.cli import exit_process

exit_process(main())
