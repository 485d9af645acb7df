"""Candidate creatures from an analysis (seed 001 "Candidate Lifecycle", "Change Types";
reference/discovery.md §5.2): one builder per change type turns a suggestion into operations,
which are applied to a copy of the base creature and validated (`operations.apply`).

A suggestion that does not fit the creature (a neuron it names is gone, the result stays
invalid) is dropped and counted as rejected; one that needed the repair is kept and counted as
repaired, since a repair means the builder produced something invalid.
"""
from __future__ import annotations

import random
import uuid as uuidlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Iterable, Sequence

from neatai.creature import Creature

from .cache_keys import key_for
from .operations import ChangeError, apply, touched
from .result import DiscoverResult, NeuronRemoval, Operation

ADD_SYNAPSES = "add-synapses"
ADD_NEURONS = "add-neurons"
CHANGE_SQUASH = "change-squash"
COORDINATED = "coordinated-structural"
REMOVE_NEURON = "remove-neuron"
REMOVE_SYNAPSE = "remove-synapse"
REMOVE_LOW_IMPACT = "remove-low-impact"
CACHE_INFORMED_REMOVAL = "cache-informed-removal"
COMBO_SUCCESSFUL = "combo-successful"

CHANGE_TYPES = (ADD_SYNAPSES, ADD_NEURONS, CHANGE_SQUASH, COORDINATED, REMOVE_NEURON, REMOVE_SYNAPSE,
                REMOVE_LOW_IMPACT, CACHE_INFORMED_REMOVAL, COMBO_SUCCESSFUL)
REMOVAL_TYPES = (REMOVE_LOW_IMPACT, REMOVE_NEURON, REMOVE_SYNAPSE, CACHE_INFORMED_REMOVAL)

# CacheInformedRemovalCandidates.ts (#1731): seeded sampling, at most 10 pairs and 6 triples.
CACHE_INFORMED_SEED = 1731
CACHE_INFORMED_PAIRS = 10
CACHE_INFORMED_TRIPLES = 6


@dataclass
class Candidate:
    change_type: str
    description: str
    operations: tuple[Operation, ...]
    expected_gain: float  # expectedCreatureScoreGain: slots are sampled by it
    suggestion: dict  # what the analysis proposed, kept in the caches for replay
    creature: Creature | None = None  # the base with the change applied
    key: str = ""
    repaired: bool = False
    impact: float | None = None  # removals: the removed neuron's impact (lowest first)
    parts: tuple[str, ...] = ()  # combinations: keys of the candidates combined

    @property
    def is_removal(self) -> bool:
        return self.change_type in REMOVAL_TYPES

    def removed_neurons(self) -> list[str]:
        return [op.neuron_uuid for op in self.operations if op.kind == "removeNeuron"]


@dataclass
class BuildStats:
    built: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)


def realise(base: Creature, candidate: Candidate, stats: BuildStats) -> Candidate | None:
    """Apply the candidate's operations to a copy of `base`; None (counted) when they do not fit."""
    try:
        applied = apply(base, candidate.operations)
    except ChangeError:
        stats.rejected[candidate.change_type] += 1
        return None
    candidate.creature = applied.creature
    candidate.repaired = applied.repaired
    candidate.key = key_for(candidate.change_type, candidate.operations, applied.creature)
    stats.built[candidate.change_type] += 1
    if applied.repaired:
        stats.repaired[candidate.change_type] += 1
    return candidate


def build(base: Creature, result: DiscoverResult, successful_removals: Iterable[str] = ()) -> tuple[list[Candidate], BuildStats]:
    """Every single-change candidate of `result` on `base`, plus the cache-informed removals of
    neurons whose removal succeeded before (`successful_removals`, uuids from the success cache)."""
    stats = BuildStats()
    proposed = [*add_synapse_candidates(result), *add_neuron_candidates(result), *squash_candidates(result),
                *coordinated_candidates(result), *neuron_removal_candidates(base, result.remove_neurons),
                *synapse_removal_candidates(result), *cache_informed_removals(base, successful_removals)]
    built = [c for c in (realise(base, p, stats) for p in proposed) if c is not None]
    return built, stats


# ---- one builder per change type -------------------------------------------------------------


def add_synapse_candidates(result: DiscoverResult) -> list[Candidate]:
    out = [Candidate(ADD_SYNAPSES, f"add synapse {s.from_uuid} -> {s.to_uuid} weight {s.weight:.4g}",
                     (Operation("addSynapse", from_uuid=s.from_uuid, to_uuid=s.to_uuid, weight=s.weight),),
                     s.expected_gain, asdict(s)) for s in result.add_synapses]
    # Weight updates travel as add-synapses/setWeight (reference §5.2).
    out += [Candidate(ADD_SYNAPSES, f"set weight {u.from_uuid} -> {u.to_uuid} to {u.weight:.4g}",
                      (Operation("setWeight", from_uuid=u.from_uuid, to_uuid=u.to_uuid, weight=u.weight),),
                      u.expected_gain, asdict(u)) for u in result.weight_updates]
    return out


def add_neuron_candidates(result: DiscoverResult) -> list[Candidate]:
    out = []
    for s in result.add_neurons:
        # The same suggestion names the same new neuron, so equal suggestions give equal creatures.
        hidden = str(uuidlib.uuid5(uuidlib.NAMESPACE_OID, f"{s.source_uuid}|{s.target_uuid}|{s.squash}|"
                                                          f"{s.incoming_weight!r}|{s.outgoing_weight!r}|{s.bias!r}"))
        ops = (Operation("addNeuron", neuron_uuid=hidden, squash=s.squash, bias=s.bias, insert_before_uuid=s.target_uuid),
               Operation("addSynapse", from_uuid=s.source_uuid, to_uuid=hidden, weight=s.incoming_weight),
               Operation("addSynapse", from_uuid=hidden, to_uuid=s.target_uuid, weight=s.outgoing_weight))
        out.append(Candidate(ADD_NEURONS, f"add {s.squash} neuron {s.source_uuid} -> {hidden} -> {s.target_uuid}",
                             ops, s.expected_gain, asdict(s)))
    return out


def squash_candidates(result: DiscoverResult) -> list[Candidate]:
    return [Candidate(CHANGE_SQUASH, f"change squash of {s.neuron_uuid} {s.previous_squash} -> {s.squash}",
                      (Operation("changeSquash", neuron_uuid=s.neuron_uuid, squash=s.squash),),
                      s.expected_gain, asdict(s)) for s in result.squash_changes]


def coordinated_candidates(result: DiscoverResult) -> list[Candidate]:
    return [Candidate(COORDINATED, c.description or f"coordinated {len(c.operations)} operations",
                      tuple(c.operations), c.expected_gain, asdict(c)) for c in result.coordinated]


def removal_type(removal: NeuronRemoval) -> str:
    """Harmful / high-error neurons are remove-neuron; low-impact and constant ones remove-low-impact."""
    reason = removal.reason.lower()
    return REMOVE_NEURON if ("harm" in reason or "error" in reason) else REMOVE_LOW_IMPACT


def removal_operations(base: Creature, neuron_uuid: str, mean_activation: float) -> tuple[Operation, ...]:
    """Remove the neuron and fold its mean contribution into its targets' biases (NEAT-AI's
    removal with bias compensation), so a neuron that was nearly constant costs nothing."""
    biases = {n.uuid: n.bias for n in base.neurons}
    ops = [Operation("removeNeuron", neuron_uuid=neuron_uuid)]
    if mean_activation:
        for s in base.synapses:
            if s.from_uuid == neuron_uuid and s.to_uuid in biases:
                ops.append(Operation("setBias", neuron_uuid=s.to_uuid, bias=biases[s.to_uuid] + s.weight * mean_activation))
    return tuple(ops)


def neuron_removal_candidates(base: Creature, removals: Sequence[NeuronRemoval]) -> list[Candidate]:
    return [Candidate(removal_type(r), f"remove neuron {r.neuron_uuid} ({r.reason}) impact: {r.impact:.6g}",
                      removal_operations(base, r.neuron_uuid, r.mean_activation), r.expected_gain, asdict(r),
                      impact=r.impact) for r in removals]


def synapse_removal_candidates(result: DiscoverResult) -> list[Candidate]:
    return [Candidate(REMOVE_SYNAPSE, f"remove synapse {s.from_uuid} -> {s.to_uuid}",
                      (Operation("removeSynapse", from_uuid=s.from_uuid, to_uuid=s.to_uuid),),
                      s.expected_gain, asdict(s)) for s in result.remove_synapses]


def cache_informed_removals(base: Creature, successful_removals: Iterable[str]) -> list[Candidate]:
    """Pairs and triples of neurons each removed successfully before and still present (#1731)."""
    present = {n.uuid for n in base.neurons if n.type != "output"}
    uuids = sorted(set(successful_removals) & present)
    rng = random.Random(CACHE_INFORMED_SEED)
    out = []
    for size, cap in ((2, CACHE_INFORMED_PAIRS), (3, CACHE_INFORMED_TRIPLES)):
        groups = list(combinations(uuids, size))
        for group in rng.sample(groups, min(cap, len(groups))):
            ops = tuple(Operation("removeNeuron", neuron_uuid=u) for u in group)
            out.append(Candidate(CACHE_INFORMED_REMOVAL, f"remove neurons {', '.join(group)} (removed before)",
                                 ops, 0.0, {"neuronUUIDs": list(group)}, impact=0.0))
    return out


def fits(base: Creature, operations: tuple[Operation, ...]) -> bool:
    """Whether every existing neuron the operations name is in `base` (added ones excepted)."""
    added = {op.neuron_uuid for op in operations if op.kind == "addNeuron"}
    return touched(operations) - added <= set(base.uuid_index())
