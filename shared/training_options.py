"""NEAT-AI's backpropagation options (reference/neat-ai.md §4.2): their names and defaults,
what makes one unusable, and their `neatai.v1.TrainOptions` form. Shared by the evaluator,
which trains with them, and the evolver, which checks a run's options at StartRun and sends
them with every Train call."""
from __future__ import annotations

import math

from . import predictive_coding_options as pc_options
from .v1 import evaluator_pb2

STRATEGIES = ("fixed", "decay", "adaptive", "warm_restart")
OPTIMIZERS = ("sgd", "adam")
DEFAULTS = {
    "iterations": 10,                        # passes over the records
    "targetError": None,                     # stop once the error is at or below it
    "batchSize": 64,
    "learningRate": None,                    # given: strategy "fixed" unless one is named
    "initialLearningRate": 0.01,
    "learningRateDecay": 0.95,
    "warmRestartPeriod": 10,
    "learningRateStrategy": None,            # None: drawn as NEAT-AI draws it
    "maximumWeightAdjustmentScale": 1.0,
    "maximumBiasAdjustmentScale": 1.0,
    "limitWeightScale": 100_000.0,
    "limitBiasScale": 10_000.0,
    "plankConstant": 1e-7,
    "disableRandomSamples": False,           # records in order instead of shuffled per pass
    "seed": None,                            # the strategy draw, the shuffles and the sparse draws
    # Not NEAT-AI options (NEAT-AI has one update rule, the plain step: "sgd" here).
    "optimizer": "adam",                     # measured better: bench/RESULTS.md "Training optimizer"
    "l1": 0.0,                               # weight penalty l1*|w| (adds l1*sign(w) to the gradient)
    "l2": 0.0,                               # weight penalty l2/2*w^2 (adds l2*w to the gradient)
    "sparseRatio": 1.0,                      # fraction of the parameters each batch updates (§4.3)
    # NEAT-AI TrainOptions (§4.3): zero-weight synapses between adjacent layers while training,
    # pruned below plank 1e-7 afterwards; at most maxPerTarget per target neuron.
    "syntheticSynapses": False,
    "maxPerTarget": 50,
    "predictiveCoding": None,                # {enabled, ...}: predictive_coding_options.py
}
# NEAT-AI's name for the passes (createBackPropagationConfig `generations`): the same option.
ALIASES = {"generations": "iterations"}


class TrainOptionsError(ValueError):
    """Options that cannot be trained with; `problems` are (option name, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


# Options that must be finite and positive (clamped afterwards where NEAT-AI clamps them).
_CHOICES = {"learningRateStrategy": STRATEGIES, "optimizer": OPTIMIZERS}
_BOOLS = ("disableRandomSamples", "syntheticSynapses")
_COUNTS = ("iterations", "generations", "batchSize", "warmRestartPeriod", "maxPerTarget")
_POSITIVE = ("learningRate", "initialLearningRate", "learningRateDecay", "maximumWeightAdjustmentScale",
             "maximumBiasAdjustmentScale", "limitWeightScale", "limitBiasScale")


def canonical(options: dict) -> dict:
    """The options with NEAT-AI's aliases under the names used here ("generations": "iterations")."""
    return {ALIASES.get(name, name): v for name, v in options.items()}


def option_problems(options: dict) -> list[tuple[str, str]]:
    """Every option that cannot be used as given, as (name, message): unknown names, an option
    given under both its names, counts that are not whole or below 1, non-finite or
    non-positive rates and scales, an unknown strategy. NEAT-AI's clamps (a learning rate above
    1 becomes 1) are not problems."""
    problems = [(name, "unknown training option") for name in sorted(set(options) - set(DEFAULTS) - set(ALIASES))]
    problems += [(alias, f"names the same option as {name}: give one of them")
                 for alias, name in ALIASES.items() if options.get(alias) is not None and options.get(name) is not None]
    o = {}
    for name, v in options.items():
        if v is None or (name not in DEFAULTS and name not in ALIASES):
            continue
        if name in _CHOICES:
            o[name] = v
        elif name == "predictiveCoding":
            problems += pc_options.problems(v)
        elif name in _BOOLS:
            if not isinstance(v, bool):
                problems.append((name, f"expected true or false, got {v!r}"))
        elif name == "seed":
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2 ** 64:
                problems.append((name, f"expected an integer in [0, 2^64), got {v!r}"))
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            problems.append((name, f"expected a number, got {v!r}"))
        else:
            o[name] = v
    for name in _COUNTS:
        if name in o and not (math.isfinite(o[name]) and o[name] == int(o[name])):
            problems.append((name, f"expected a whole number, got {o[name]}"))
        elif name in o and int(o[name]) < 1:
            problems.append((name, f"must be at least 1, got {o[name]}"))
    for name in _POSITIVE:
        if name in o and not (math.isfinite(o[name]) and o[name] > 0):
            problems.append((name, f"must be finite and > 0, got {o[name]}"))
    for name in ("targetError", "plankConstant", "l1", "l2"):
        if name in o and not (math.isfinite(o[name]) and o[name] >= 0):
            problems.append((name, f"must be finite and >= 0, got {o[name]}"))
    if "sparseRatio" in o and not (math.isfinite(o["sparseRatio"]) and 0 < o["sparseRatio"] <= 1):
        problems.append(("sparseRatio", f"must be in (0, 1], got {o['sparseRatio']}"))
    for name, choices in _CHOICES.items():
        if name in o and o[name] not in choices:
            problems.append((name, f"must be one of {', '.join(choices)}, got {o[name]!r}"))
    return problems


# TrainOptions fields by their JSON names, which are NEAT-AI's option names (batch_size: batchSize)
FIELDS = {f.json_name: f for f in evaluator_pb2.TrainOptions.DESCRIPTOR.fields}
# Enum-valued options: their enum and its value prefix (LEARNING_RATE_STRATEGY_FIXED: "fixed").
_ENUMS = {"learningRateStrategy": (evaluator_pb2.LearningRateStrategy, "LEARNING_RATE_STRATEGY_"),
          "optimizer": (evaluator_pb2.Optimizer, "OPTIMIZER_")}


def enum_number(name: str, value: str) -> int:
    enum, prefix = _ENUMS[name]
    return enum.Value(prefix + value.upper())


def strategy_number(name: str) -> int:
    return enum_number("learningRateStrategy", name)


def options_from_proto(msg: evaluator_pb2.TrainOptions) -> dict:
    """The options a TrainOptions message sets, by NEAT-AI's names; an unknown enum number is
    passed on as such, for `option_problems` to name it."""
    options = {}
    for name, f in FIELDS.items():
        if name in _ENUMS:
            enum, prefix = _ENUMS[name]
            number = getattr(msg, f.name)
            if number not in enum.values():
                options[name] = f"{enum.DESCRIPTOR.name} value {number}"
            elif number != 0:  # *_UNSPECIFIED: the default
                options[name] = enum.Name(number).removeprefix(prefix).lower()
        elif name == "predictiveCoding":
            if msg.HasField(f.name):
                options[name] = pc_options.from_proto(msg.predictive_coding)
        elif msg.HasField(f.name) if f.has_presence else getattr(msg, f.name):  # a plain bool: when true
            options[name] = getattr(msg, f.name)
    return options


def options_to_proto(options: dict) -> evaluator_pb2.TrainOptions:
    """The TrainOptions message of valid options (None values are left unset)."""
    msg = evaluator_pb2.TrainOptions()
    for name, value in canonical(options).items():
        if value is None:
            continue
        if name in _COUNTS:
            value = int(value)  # a whole float (TOML 10.0) into an int32 field
        if name == "predictiveCoding":
            msg.predictive_coding.CopyFrom(pc_options.to_proto(value))
            continue
        setattr(msg, FIELDS[name].name, enum_number(name, value) if name in _ENUMS else value)
    return msg


def field_of(name: str) -> str:
    """The TrainOptions field path of an option name ("batchSize" -> "batch_size")."""
    if name.startswith("predictiveCoding"):
        return pc_options.field_path(name)
    return FIELDS[name].name if name in FIELDS else name
