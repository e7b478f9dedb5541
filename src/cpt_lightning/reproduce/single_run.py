"""`python -m cpt_lightning.reproduce.single_run SPEC_JSON RUN_DIR`: one protocol run in its own process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cpt_lightning.reproduce.runs import RunSpec, execute_run

if __name__ == "__main__":
    spec_file, run_dir = sys.argv[1:3]
    execute_run(RunSpec(**json.loads(Path(spec_file).read_text())), Path(run_dir))
