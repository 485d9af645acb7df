"""What one analysis of a recording suggests: the contract between the analysis engine
(`neatai.discovery.analysis`) and the pipeline that builds, scores and caches candidates.

Field meanings follow NEAT-AI's DiscoverResult (reference/discovery.md §3.1) in snake_case.
`expected_gain` is NEAT-AI's expectedCreatureScoreGain: a creature-level expected fractional error
reduction after calibration (§2.4, §3.2); the pipeline ranks and samples by it. Every suggestion
names neurons by UUID, so it applies to any copy of the analysed creature.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

# The coordinated-operation vocabulary (§2.8).
OPERATION_KINDS = (
    "addSynapse", "removeSynapse", "setWeight", "addNeuron", "removeNeuron", "changeSquash", "setBias",
)


@dataclass(frozen=True)
class SynapseSuggestion:
    """Add a synapse from_uuid → to_uuid with `weight` (§2.3, §2.4)."""
    from_uuid: str
    to_uuid: str
    weight: float
    expected_gain: float
    expected_error_reduction: float = 0.0
    improved_count: int = 0
    total_count: int = 0
    target_impact: float = 1.0
    comment: str = ""


@dataclass(frozen=True)
class WeightUpdate:
    """Change an existing synapse's weight (§2.3 step 9: the delta is clamped, not the weight)."""
    from_uuid: str
    to_uuid: str
    weight: float
    expected_gain: float
    comment: str = ""


@dataclass(frozen=True)
class NeuronSuggestion:
    """Add a hidden neuron h = squash(incoming_weight · source + bias) feeding target with
    outgoing_weight (§2.6)."""
    source_uuid: str
    target_uuid: str
    incoming_weight: float
    outgoing_weight: float
    squash: str
    bias: float
    expected_gain: float
    expected_error_reduction: float = 0.0
    improved_count: int = 0
    total_count: int = 0
    target_impact: float = 1.0
    comment: str = ""


@dataclass(frozen=True)
class SquashSuggestion:
    """Change a neuron's squash (§2.7)."""
    neuron_uuid: str
    previous_squash: str
    squash: str
    expected_gain: float
    improved_error: float = 0.0
    current_error: float = 0.0


@dataclass(frozen=True)
class SynapseRemoval:
    """Remove a harmful synapse (§2.5)."""
    from_uuid: str
    to_uuid: str
    expected_gain: float
    comment: str = ""


@dataclass(frozen=True)
class NeuronRemoval:
    """Remove a low-impact, constant or harmful hidden neuron (§2.9); reason says which."""
    neuron_uuid: str
    reason: str
    expected_gain: float
    total_error: float = 0.0
    impact: float = 0.0
    mean_activation: float = 0.0
    expected_error_reduction: float = 0.0


@dataclass(frozen=True)
class Operation:
    """One step of a coordinated candidate; which fields matter depends on `kind`
    (OPERATION_KINDS): synapses use from_uuid/to_uuid (+ weight), neurons neuron_uuid
    (+ squash, bias, insert_before_uuid for addNeuron, neuron_type)."""
    kind: str
    from_uuid: str = ""
    to_uuid: str = ""
    weight: float = 0.0
    neuron_uuid: str = ""
    neuron_type: str = "hidden"
    squash: str = ""
    bias: float = 0.0
    insert_before_uuid: str = ""

    def __post_init__(self):
        if self.kind not in OPERATION_KINDS:
            raise ValueError(f"unknown operation kind {self.kind!r}; expected one of {OPERATION_KINDS}")


@dataclass(frozen=True)
class CoordinatedCandidate:
    """Several operations that help only together (§2.8); never combined with others."""
    operations: tuple[Operation, ...]
    expected_gain: float
    description: str = ""


@dataclass(frozen=True)
class FocusNeuron:
    """A neuron the analysis concentrated on (§3.3, §3.4)."""
    neuron_uuid: str
    score: float
    reason: str = ""  # "exploit", "explore" or "forced"


@dataclass
class DiscoverResult:
    """Everything one analysis suggests, best first within each list."""
    id: str
    add_synapses: list[SynapseSuggestion] = field(default_factory=list)
    weight_updates: list[WeightUpdate] = field(default_factory=list)
    add_neurons: list[NeuronSuggestion] = field(default_factory=list)
    squash_changes: list[SquashSuggestion] = field(default_factory=list)
    remove_synapses: list[SynapseRemoval] = field(default_factory=list)
    remove_neurons: list[NeuronRemoval] = field(default_factory=list)
    coordinated: list[CoordinatedCandidate] = field(default_factory=list)
    focus: list[FocusNeuron] = field(default_factory=list)
    backend: str = "numpy"            # "numpy" or "cupy": where the analysis ran
    observations: int = 0             # samples analysed
    seconds: float = 0.0              # analysis wall time
    timed_out: bool = False           # the analysis stopped at its deadline with what it had
    extra: Optional[dict] = None      # diagnostics the engine wants to report

    def to_dict(self) -> dict:
        return asdict(self)

    def is_empty(self) -> bool:
        return not (self.add_synapses or self.weight_updates or self.add_neurons or self.squash_changes
                    or self.remove_synapses or self.remove_neurons or self.coordinated)
