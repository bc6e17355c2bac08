"""`kmcbot loadtest`: simulated citizens against a running bot (see runner.py)."""

from kmcbot.devtools.loadgen.citizen import MIXES
from kmcbot.devtools.loadgen.runner import Options, run

__all__ = ["MIXES", "Options", "run"]
