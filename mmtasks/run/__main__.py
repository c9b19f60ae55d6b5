"""`python -m mmtasks.run`: see mmtasks/run/__init__.py."""

import sys

from mmtasks.run.supervisor import main

sys.exit(main())
