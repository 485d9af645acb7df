"""The evaluator's compute core: compiled networks, the forward and population kernels, the score."""
from .compiled import Network
from .forward import COSTS, evaluate_population, sample_rows
from .network import NetworkCompiler, compile_network, trainable_network, write_back
from .score import score, value_penalty
from .wire_reader import FlatCreature, read_creature

__all__ = ["COSTS", "FlatCreature", "Network", "NetworkCompiler", "compile_network", "evaluate_population",
           "read_creature", "sample_rows", "score", "trainable_network", "value_penalty", "write_back"]
