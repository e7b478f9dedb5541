"""The reproduce runner: protocols as data, skip-finished execution, and the paper-style table."""

from cpt_lightning.reproduce.protocols import MethodSpec, Protocol, builtin_protocols, load_protocol
from cpt_lightning.reproduce.runs import RunSpec, plan_runs, run_protocol
from cpt_lightning.reproduce.table import summarise, write_tables

__all__ = [
    "MethodSpec",
    "Protocol",
    "RunSpec",
    "builtin_protocols",
    "load_protocol",
    "plan_runs",
    "run_protocol",
    "summarise",
    "write_tables",
]
