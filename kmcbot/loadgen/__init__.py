"""`kmcbot loadtest`: simulated citizens against a running bot (see runner.py)."""

from kmcbot.loadgen.command import MIXES
from kmcbot.loadgen.runner import Options, run

__all__ = ["MIXES", "Options", "run"]
