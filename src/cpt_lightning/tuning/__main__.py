"""`python -m cpt_lightning.tuning ...` (the same as `cpt-tune`)."""

import sys

from cpt_lightning.tuning.cli import main

sys.exit(main())
