"""`python -m cpt_lightning.reproduce PROTOCOL ...` (the same as `cpt-reproduce`)."""

import sys

from cpt_lightning.reproduce.cli import main

sys.exit(main())
