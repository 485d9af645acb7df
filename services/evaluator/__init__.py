"""The evaluator's compute core: compiled networks, the population kernel, the score, and
in-process scoring of creatures (`evaluate_creatures`, `evaluate_in_process`)."""
from neatai.costs import COST_NAMES as COSTS

from .kernels import FlatCreature, Network, evaluate_population, read_creature, sample_rows
from .network import NetworkCompiler, compile_network
from .score import score, value_penalty
from .service import CreatureResult, evaluate_creatures, evaluate_in_process

__all__ = ["COSTS", "CreatureResult", "FlatCreature", "Network", "NetworkCompiler", "compile_network",
           "evaluate_creatures", "evaluate_in_process", "evaluate_population", "read_creature", "sample_rows",
           "score", "value_penalty"]
