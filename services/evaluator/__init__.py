"""The evaluator's compute core: compiled networks, the forward and population kernels, the score,
and in-process scoring of creatures (`evaluate_creatures`, `evaluate_in_process`)."""
from neatai.costs import COST_NAMES as COSTS

from .compiled import Network
from .forward import evaluate_population, sample_rows
from .network import NetworkCompiler, compile_network, trainable_network, write_back
from .score import score, value_penalty
from .service import CreatureResult, evaluate_creatures, evaluate_in_process
from .session import Session
from .wire_reader import FlatCreature, read_creature

__all__ = ["COSTS", "CreatureResult", "FlatCreature", "Network", "NetworkCompiler", "compile_network",
           "evaluate_creatures", "evaluate_in_process", "evaluate_population", "read_creature", "sample_rows",
           "Session", "score", "trainable_network", "value_penalty", "write_back"]
