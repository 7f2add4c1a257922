from generator.cli import main
from pipeline.common.cli import exit_process

exit_process(main())
