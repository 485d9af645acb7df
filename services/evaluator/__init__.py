"""The evaluator's compute core: compiled networks, the population kernel, the score."""
from .kernels import COSTS, FlatCreature, Network, evaluate_population, read_creature, sample_rows
from .network import NetworkCompiler, compile_network
from .score import score, value_penalty

__all__ = ["COSTS", "FlatCreature", "Network", "NetworkCompiler", "compile_network", "evaluate_population", "read_creature", "sample_rows",
           "score", "value_penalty"]
