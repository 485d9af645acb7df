"""Every option of an evolution run, by NEAT-AI's names, validated in one place.

`EvolverConfig.from_dict` reads NEAT-AI's camelCase options (reference/neat-ai.md §3.5, seeds
000 and 002), `from_proto` reads a `neatai.v1.RunConfig`. Validation collects every problem as
a `Problem(path, message)` and raises one `ConfigError`, which the servicer turns into
INVALID_ARGUMENT field violations. Values that are legal but unusual (seed 002: CT > 1000,
CP > 10) are reported by `warnings()` instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any

from neatai import costs
from neatai import squash as squashes
from neatai.creature import Problem
from neatai.training_options import option_problems, options_from_proto, options_to_proto

INITIAL_WEIGHTS = ("neat-ai", "symmetric")
# Parent selection within a species' survivors: uniform (NEAT's classic), a tournament, or a
# roulette on scores shifted by the species' worst (NEAT-AI's names).
SELECTIONS = ("UNIFORM", "TOURNAMENT", "FITNESS_PROPORTIONATE")


class ConfigError(ValueError):
    """The config is invalid; `problems` lists every problem with its option path."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("invalid config: " + "; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class EvolverConfig:
    population_size: int = 50
    elitism: int = 1
    mutation_rate: float = 0.3
    mutation_amount: int = 1
    cost_name: str = costs.DEFAULT_COST
    target_error: float = 0.05
    iterations: int | None = None  # generations; None = unlimited
    max_evaluations: int | None = None
    timeout_seconds: float | None = None
    seed: int | None = None
    cost_of_growth: float = 1e-7
    fitness_sample_rate: float = 1.0
    # Classic NEAT distance (seed 002): d = c1*E/N + c2*D/N + c3*W, N = 1 below ct; same species when d < cp.
    ct: float = 20.0
    cp: float | None = None  # None = max(population_size / 20, 1)
    c1: float = 1.0
    c2: float = 1.0
    c3: float = 0.1
    distance_cache_max_size: int = 10_000
    # Adaptive size preference of the mutator (reference/neat-ai.md §3.2).
    medium_threshold: int = 100
    large_threshold: int = 300
    large_topology_weight: float = 0.1
    species_stagnation: int = 15  # generations without improvement before a species is dropped
    survival_threshold: float = 0.2  # fraction of each species allowed to breed
    # neat-python's species_elitism: the best species kept breeding however long they stagnate.
    species_elitism: int = 2
    # Species with at least this many members copy their champion unchanged (NEAT paper: > 5).
    champion_min_species_size: int = 5
    selection: str = "UNIFORM"
    tournament_size: int = 3
    # Share of offspring bred by mutation alone, without crossover (NEAT paper: 0.25); None: a
    # child is a clone when both parents drawn are the same creature (NEAT-AI's breeding).
    mutation_only_rate: float | None = None
    # Chance that a crossover child's second parent comes from another species (paper: 0.001).
    interspecies_crossover_rate: float = 0.0
    # Dynamic compatibility threshold: each generation CP moves towards this many species by
    # compatibilityStep times the relative gap (0: CP stays fixed).
    target_species: int = 0
    compatibility_step: float = 0.3
    # NEAT-AI squashBudget.allowedSquashes: the squashes new and mutated neurons may take
    # (empty: NEAT-AI's whole weighted pool).
    allowed_squashes: tuple[str, ...] = ()
    # The NEAT paper's weight mutation (weightMutation.*): the chance a child has every weight and
    # bias perturbed by U(-power, power), each replaced by U(-1, 1) with replaceRate instead;
    # 0: only NEAT-AI's MOD_WEIGHT/MOD_BIAS (one gene per mutation).
    weight_mutation_rate: float = 0.0
    weight_mutation_power: float = 0.5
    weight_replace_rate: float = 0.1
    # Client-computed fitness (clientFitness.*): with inputs and outputs set the run has no dataset;
    # clients score its creatures through Ask/Tell, each Ask leasing creatures for leaseSeconds
    # before they are offered again.
    client_inputs: int = 0
    client_outputs: int = 0
    lease_seconds: float = 30.0
    feedback_loop: bool = False
    island_peers: tuple[str, ...] = ()
    migration_interval: int = 10  # generations between island exchanges
    migration_fraction: float = 0.05  # share of the population sent (top 5-10 %)
    peer_run_id: str = ""
    evaluation_batch_size: int = 64  # creatures per Evaluate call
    # "neat-ai": U[0,1)*i*sqrt(2/i), all positive (reference/neat-ai.md §1.1); it grows with the
    # input count and saturates creatures with many inputs, hence "symmetric": U(-1,1)*sqrt(2/i).
    initial_weights: str = "neat-ai"
    # NEAT-AI squashBudget.fixedOutputSquash: every output keeps this squash (None: evolved).
    fixed_output_squash: str | None = None
    # Memetic evolution (reference/neat-ai.md §4.4, seed 000): every generation the best
    # fineTunePopulation fraction is trained on the evaluators with `backpropagation` (NEAT-AI's
    # options; None: their defaults) and the improved copies join the next generation.
    memetic: bool = False
    fine_tune_min_fraction: float = 0.1
    fine_tune_max_fraction: float = 0.4
    fine_tune_base_fraction: float = 0.2
    fine_tune_window: int = 10  # generations of training success the fraction adapts on
    backpropagation: dict | None = None
    # NEAT-AI's quantum fine-tuning (quantumAdjust, §4.4): copies of each generation's fittest
    # stepped against reference creatures join the next generation beside the trained copies.
    quantum_adjust: bool = False
    # Discovery (seed 001, reference/discovery.md §5): the run's best creature goes to the
    # discovery service every `discovery_interval` generations, or when the best score has not
    # improved for `discovery_plateau` generations; -1 (NEAT-AI discoverySampleRate off) disables it.
    discovery_sample_rate: float = -1.0
    discovery_interval: int = 10
    discovery_plateau: int = 5

    @property
    def discovery(self) -> bool:
        return self.discovery_sample_rate != -1
    # PC-guided mutation (seed 004 §3.4): offspring of a creature tagged by predictive-coding
    # training get every other mutation aimed by its neurons' prediction errors (genome.pc_guided).
    pc_guided_mutation: bool = False

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    # ---- derived -----------------------------------------------------------------------------

    @cached_property
    def squash_pool(self) -> tuple[str, ...]:
        """The weighted squash pool new and mutated neurons draw from (allowedSquashes)."""
        return tuple(squashes.mutation_pool(list(self.allowed_squashes) or None))

    @property
    def client_fitness(self) -> bool:
        """Scored by clients through Ask/Tell rather than on a dataset."""
        return self.client_inputs > 0

    @property
    def compatibility_threshold(self) -> float:
        """CP as used: the configured value or max(population / 20, 1)."""
        return self.cp if self.cp is not None else max(self.population_size / 20, 1.0)

    # ---- validation --------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        p: list[Problem] = []

        def check(ok: bool, name: str, message: str) -> None:
            if not ok:
                p.append(Problem(_CAMEL[name], message))

        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is not None and f.name in _INTS | _FLOATS:  # JSON null, TOML none
                check(False, f.name, "expected a number, got null (leave the option out for its default)")
            elif f.name in _INTS and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                check(False, f.name, f"expected an integer, got {value!r}")
            elif f.name in _FLOATS and value is not None and (
                    isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value)):
                check(False, f.name, f"expected a finite number, got {_short(value)}")
        for name in ("feedback_loop", "memetic", "quantum_adjust", "pc_guided_mutation"):
            check(isinstance(getattr(self, name), bool), name, f"expected true or false, got {getattr(self, name)!r}")
        check(self.backpropagation is None or isinstance(self.backpropagation, dict), "backpropagation",
              f"expected an object of backpropagation options, got {self.backpropagation!r}")
        check(self.fixed_output_squash is None or isinstance(self.fixed_output_squash, str), "fixed_output_squash",
              f"expected a squash name, got {self.fixed_output_squash!r}")
        for name in ("cost_name", "peer_run_id", "initial_weights"):
            check(isinstance(getattr(self, name), str), name, f"expected a string, got {getattr(self, name)!r}")
        check(isinstance(self.island_peers, tuple), "island_peers",
              f"expected a list of host:port, got {self.island_peers!r}")
        check(isinstance(self.allowed_squashes, tuple), "allowed_squashes",
              f"expected a list of squash names, got {self.allowed_squashes!r}")
        check(isinstance(self.selection, str), "selection", f"expected a string, got {self.selection!r}")
        if p:
            return p
        check(self.population_size >= 2, "population_size", f"must be at least 2, got {self.population_size}")
        check(0 <= self.elitism < self.population_size, "elitism",
              f"must be between 0 and populationSize - 1 ({self.population_size - 1}), got {self.elitism}")
        check(0.001 < self.mutation_rate <= 1, "mutation_rate", f"must be in (0.001, 1], got {self.mutation_rate}")
        check(self.mutation_amount >= 1, "mutation_amount", f"must be at least 1, got {self.mutation_amount}")
        check(self.cost_name in costs.COST_NAMES, "cost_name",
              f"unknown cost {self.cost_name!r} (expected one of {', '.join(costs.COST_NAMES)})")
        # In the cost's units: errors on raw regression targets are far above 1. A client-scored
        # run's error is the client's (by default -fitness): any value can be its target.
        check(self.target_error >= 0 or self.client_fitness, "target_error", f"must be >= 0, got {self.target_error}")
        check(self.iterations is None or self.iterations >= 1, "iterations", f"must be at least 1, got {self.iterations}")
        check(self.max_evaluations is None or self.max_evaluations >= 1, "max_evaluations",
              f"must be at least 1, got {self.max_evaluations}")
        check(self.timeout_seconds is None or self.timeout_seconds > 0, "timeout_seconds",
              f"must be positive, got {self.timeout_seconds}")
        check(self.seed is None or 0 <= self.seed < 2 ** 64, "seed", f"must be in [0, 2^64), got {self.seed}")
        check(self.cost_of_growth >= 0, "cost_of_growth", f"must be >= 0, got {self.cost_of_growth}")
        check(0 < self.fitness_sample_rate <= 1, "fitness_sample_rate",
              f"must be in (0, 1], got {self.fitness_sample_rate}")
        check(self.ct > 0, "ct", f"must be positive, got {self.ct}")
        check(self.cp is None or self.cp > 0, "cp", f"must be positive, got {self.cp}")
        for name in ("c1", "c2", "c3"):
            check(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")
        check(self.distance_cache_max_size >= 1, "distance_cache_max_size",
              f"must be at least 1, got {self.distance_cache_max_size}")
        check(self.medium_threshold >= 1, "medium_threshold", f"must be at least 1, got {self.medium_threshold}")
        check(self.large_threshold > self.medium_threshold, "large_threshold",
              f"must exceed medium ({self.medium_threshold}), got {self.large_threshold}")
        check(0 <= self.large_topology_weight <= 1, "large_topology_weight",
              f"must be in [0, 1], got {self.large_topology_weight}")
        check(self.species_stagnation >= 1, "species_stagnation", f"must be at least 1, got {self.species_stagnation}")
        check(0 < self.survival_threshold <= 1, "survival_threshold",
              f"must be in (0, 1], got {self.survival_threshold}")
        check(self.migration_interval >= 1, "migration_interval", f"must be at least 1, got {self.migration_interval}")
        check(0 < self.migration_fraction <= 1, "migration_fraction",
              f"must be in (0, 1], got {self.migration_fraction}")
        for i, peer in enumerate(self.island_peers):
            if not isinstance(peer, str) or ":" not in peer:
                p.append(Problem(f"islands.peers[{i}]", f"expected host:port, got {peer!r}"))
        check(self.initial_weights in INITIAL_WEIGHTS, "initial_weights",
              f"unknown initial weights {self.initial_weights!r} (expected one of {', '.join(INITIAL_WEIGHTS)})")
        check(self.fixed_output_squash is None or (
            self.fixed_output_squash in squashes.BY_NAME and self.fixed_output_squash != "IF"),
            "fixed_output_squash", f"unknown output squash {self.fixed_output_squash!r} (a squash name, not IF)")
        check(self.species_elitism >= 1, "species_elitism",
              f"must be at least 1 (with none a run whose species all stagnate would die out), got {self.species_elitism}")
        check(self.champion_min_species_size >= 1, "champion_min_species_size",
              f"must be at least 1, got {self.champion_min_species_size}")
        check(self.selection in SELECTIONS, "selection",
              f"unknown selection {self.selection!r} (expected one of {', '.join(SELECTIONS)})")
        check(self.tournament_size >= 2, "tournament_size", f"must be at least 2, got {self.tournament_size}")
        check(self.mutation_only_rate is None or 0 <= self.mutation_only_rate <= 1, "mutation_only_rate",
              f"must be in [0, 1], got {self.mutation_only_rate}")
        check(0 <= self.interspecies_crossover_rate <= 1, "interspecies_crossover_rate",
              f"must be in [0, 1], got {self.interspecies_crossover_rate}")
        check(0 <= self.target_species < self.population_size, "target_species",
              f"must be between 0 (off) and populationSize - 1 ({self.population_size - 1}), got {self.target_species}")
        check(0 <= self.weight_mutation_rate <= 1, "weight_mutation_rate",
              f"must be in [0, 1], got {self.weight_mutation_rate}")
        check(self.weight_mutation_power > 0, "weight_mutation_power",
              f"must be positive, got {self.weight_mutation_power}")
        check(0 <= self.weight_replace_rate <= 1, "weight_replace_rate",
              f"must be in [0, 1], got {self.weight_replace_rate}")
        check(self.client_inputs >= 0 and self.client_outputs >= 0
              and (self.client_inputs > 0) == (self.client_outputs > 0), "client_inputs",
              f"inputs and outputs must both be positive (client-computed fitness) or both 0, got "
              f"{self.client_inputs} and {self.client_outputs}")
        check(self.lease_seconds > 0, "lease_seconds", f"must be positive, got {self.lease_seconds}")
        check(not (self.client_fitness and self.memetic), "memetic",
              "needs a dataset to train on; a run with clientFitness has none")
        check(not (self.client_fitness and self.discovery), "discovery_sample_rate",
              "discovery records the creature on a dataset; a run with clientFitness has none (leave it -1)")
        check(0 < self.compatibility_step <= 1, "compatibility_step", f"must be in (0, 1], got {self.compatibility_step}")
        for i, name in enumerate(self.allowed_squashes):
            if name not in squashes.BY_NAME or not squashes.mutation_pool([name]):
                p.append(Problem(f"squashBudget.allowedSquashes[{i}]",
                                 f"{name!r} is not a squash neurons can take (one of {', '.join(sorted(set(squashes.mutation_pool())))})"))
        check(not self.allowed_squashes or set(self.allowed_squashes) != {"IF"}, "allowed_squashes",
              "IF alone cannot be the pool: a fresh output has no inputs for its roles")
        check(self.evaluation_batch_size >= 1, "evaluation_batch_size",
              f"must be at least 1, got {self.evaluation_batch_size}")
        low, base, high = self.fine_tune_min_fraction, self.fine_tune_base_fraction, self.fine_tune_max_fraction
        check(self.memetic or not self.quantum_adjust, "quantum_adjust",
              "is a memetic option: set memetic = true as well (or leave quantumAdjust off)")
        check(0 < low <= base, "fine_tune_min_fraction", f"must be in (0, basePopulationFraction ({base})], got {low}")
        check(base <= high <= 1, "fine_tune_max_fraction",
              f"must be in [basePopulationFraction ({base}), 1], got {high}")
        check(self.fine_tune_window >= 1, "fine_tune_window", f"must be at least 1, got {self.fine_tune_window}")
        check(self.discovery_sample_rate == -1 or 0 < self.discovery_sample_rate <= 1, "discovery_sample_rate",
              f"must be in (0, 1], or -1 to disable discovery, got {self.discovery_sample_rate}")
        for name in ("discovery_interval", "discovery_plateau"):
            check(getattr(self, name) >= 1, name, f"must be at least 1, got {getattr(self, name)}")
        for name, message in option_problems(self.backpropagation or {}):
            p.append(Problem(f"backpropagation.{name}", message))
        if "seed" in (self.backpropagation or {}):
            p.append(Problem("backpropagation.seed", "set by the run: each generation's training seed comes from its seed"))
        return p

    def warnings(self) -> list[Problem]:
        """Legal but unusual values (seed 002's console warnings)."""
        w = []
        if self.ct > 1000:
            w.append(Problem("compatibility.CT", f"{self.ct} is unusually high (> 1000): distances are never normalised"))
        if self.compatibility_threshold > 10:
            w.append(Problem("compatibility.CP",
                             f"{self.compatibility_threshold} is unusually high (> 10): few, large species"))
        if self.island_peers and not 0.05 <= self.migration_fraction <= 0.10:
            w.append(Problem("islands.migrationFraction",
                             f"{self.migration_fraction} is outside the recommended 0.05-0.10"))
        return w

    # ---- NEAT-AI option dictionaries -----------------------------------------------------------

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> EvolverConfig:
        """Read NEAT-AI camelCase options; nested `compatibility`, `distanceCache`,
        `adaptiveMutationThresholds` and `islands` objects as in the seeds."""
        if not isinstance(options, dict):
            raise ConfigError([Problem("$", f"expected an object, got {type(options).__name__}")])
        kwargs: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, value in options.items():
            if key in _NESTED:
                if not isinstance(value, dict):
                    problems.append(Problem(key, f"expected an object, got {type(value).__name__}"))
                    continue
                for sub, v in value.items():
                    name = _NESTED[key].get(sub) or _NESTED[key].get(sub.lower())
                    if name is None:
                        problems.append(Problem(f"{key}.{sub}", "unknown option"))
                    else:
                        kwargs[name] = tuple(v) if name in _TUPLES and isinstance(v, list) else v
            elif key == "backpropagation":  # NEAT-AI's option names as they are (checked by problems())
                kwargs["backpropagation"] = value
            elif key in _FLAT:
                kwargs[_FLAT[key]] = value
            elif key == "timeoutMinutes" and isinstance(value, (int, float)) and not isinstance(value, bool):
                kwargs["timeout_seconds"] = value * 60.0
            else:
                problems.append(Problem(key, "unknown option"))
        if problems:
            raise ConfigError(problems)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            path = _CAMEL[f.name].split(".")
            if len(path) == 1:
                d[path[0]] = value
            else:
                d.setdefault(path[0], {})[path[1]] = list(value) if isinstance(value, tuple) else value
        return d

    def replace(self, **changes: Any) -> EvolverConfig:
        return replace(self, **changes)

    # ---- neatai.v1.RunConfig -----------------------------------------------------------------

    @classmethod
    def from_proto(cls, msg) -> EvolverConfig:
        kwargs: dict[str, Any] = {}
        for name, pb in _PROTO_OPTIONAL.items():
            if msg.HasField(pb):
                kwargs[name] = getattr(msg, pb)
        if msg.cost:
            name = costs.cost_name(msg.cost)
            if name is None:
                raise ConfigError([Problem("cost", f"unknown cost function {msg.cost}")])
            kwargs["cost_name"] = name
        kwargs["feedback_loop"] = msg.feedback_loop
        if msg.selection:
            kwargs["selection"] = _selection_name(msg.selection)
        if msg.allowed_squashes:
            kwargs["allowed_squashes"] = tuple(msg.allowed_squashes)
        if msg.HasField("backpropagation"):
            kwargs["backpropagation"] = options_from_proto(msg.backpropagation)
        for sub, mapping in _PB_NESTED:
            if msg.HasField(sub):
                part = getattr(msg, sub)
                for name, pb in mapping.items():
                    if part.HasField(pb):
                        kwargs[name] = getattr(part, pb)
        if msg.HasField("islands"):
            kwargs["island_peers"] = tuple(msg.islands.peers)
            kwargs["peer_run_id"] = msg.islands.peer_run_id
        return cls(**kwargs)

    def to_proto(self):
        from neatai.v1 import evolver_pb2 as pb

        msg = pb.RunConfig(cost=costs.cost_number(self.cost_name), feedback_loop=self.feedback_loop,
                           selection=pb.ParentSelection.Value(f"PARENT_SELECTION_{self.selection}"),
                           allowed_squashes=self.allowed_squashes)
        for name, pbname in _PROTO_OPTIONAL.items():
            value = getattr(self, name)
            if value is not None:
                setattr(msg, pbname, value)
        if self.backpropagation is not None:
            msg.backpropagation.CopyFrom(options_to_proto(self.backpropagation))
        for sub, mapping in _PB_NESTED:
            part = getattr(msg, sub)
            for name, pbname in mapping.items():
                value = getattr(self, name)
                if value is not None:
                    setattr(part, pbname, value)
        msg.islands.peers.extend(self.island_peers)
        msg.islands.peer_run_id = self.peer_run_id
        return msg


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


_INTS = {"population_size", "elitism", "mutation_amount", "iterations", "max_evaluations", "seed",
         "distance_cache_max_size", "medium_threshold", "large_threshold", "species_stagnation",
         "migration_interval", "evaluation_batch_size", "fine_tune_window", "discovery_interval", "discovery_plateau",
         "species_elitism", "champion_min_species_size", "tournament_size", "target_species", "client_inputs",
         "client_outputs"}
_FLOATS = {"mutation_rate", "target_error", "timeout_seconds", "cost_of_growth", "fitness_sample_rate", "ct", "cp",
           "c1", "c2", "c3", "large_topology_weight", "survival_threshold", "migration_fraction",
           "fine_tune_min_fraction", "fine_tune_max_fraction", "fine_tune_base_fraction", "discovery_sample_rate",
           "mutation_only_rate", "interspecies_crossover_rate", "compatibility_step", "weight_mutation_rate",
           "weight_mutation_power", "weight_replace_rate", "lease_seconds"}

_FLAT = {
    "populationSize": "population_size", "elitism": "elitism", "mutationRate": "mutation_rate",
    "mutationAmount": "mutation_amount", "costName": "cost_name", "targetError": "target_error",
    "iterations": "iterations", "maxEvaluations": "max_evaluations", "timeoutSeconds": "timeout_seconds",
    "seed": "seed", "costOfGrowth": "cost_of_growth", "fitnessSampleRate": "fitness_sample_rate",
    "speciesStagnation": "species_stagnation", "survivalThreshold": "survival_threshold",
    "feedbackLoop": "feedback_loop", "evaluationBatchSize": "evaluation_batch_size",
    "initialWeights": "initial_weights", "memetic": "memetic", "quantumAdjust": "quantum_adjust",
    "discoverySampleRate": "discovery_sample_rate", "discoveryInterval": "discovery_interval",
    "discoveryPlateau": "discovery_plateau",
    "pcGuidedMutation": "pc_guided_mutation",
    "speciesElitism": "species_elitism", "championMinSpeciesSize": "champion_min_species_size",
    "selection": "selection", "tournamentSize": "tournament_size", "mutationOnlyRate": "mutation_only_rate",
    "interspeciesCrossoverRate": "interspecies_crossover_rate", "targetSpecies": "target_species",
    "compatibilityStep": "compatibility_step",
}
_TUPLES = ("island_peers", "allowed_squashes")
_NESTED = {
    "compatibility": {"CT": "ct", "CP": "cp", "C1": "c1", "C2": "c2", "C3": "c3",
                      "ct": "ct", "cp": "cp", "c1": "c1", "c2": "c2", "c3": "c3"},
    "distanceCache": {"maxSize": "distance_cache_max_size", "maxsize": "distance_cache_max_size"},
    "adaptiveMutationThresholds": {"medium": "medium_threshold", "large": "large_threshold",
                                   "largeTopologyWeight": "large_topology_weight",
                                   "largetopologyweight": "large_topology_weight"},
    "squashBudget": {"fixedOutputSquash": "fixed_output_squash", "fixedoutputsquash": "fixed_output_squash",
                     "allowedSquashes": "allowed_squashes", "allowedsquashes": "allowed_squashes"},
    "weightMutation": {"rate": "weight_mutation_rate", "power": "weight_mutation_power",
                       "replaceRate": "weight_replace_rate", "replacerate": "weight_replace_rate"},
    "clientFitness": {"inputs": "client_inputs", "outputs": "client_outputs", "leaseSeconds": "lease_seconds",
                      "leaseseconds": "lease_seconds"},
    "fineTunePopulation": {"minPopulationFraction": "fine_tune_min_fraction",
                           "maxPopulationFraction": "fine_tune_max_fraction",
                           "basePopulationFraction": "fine_tune_base_fraction",
                           "successRateWindow": "fine_tune_window"},
    "islands": {"peers": "island_peers", "migrationInterval": "migration_interval",
                "migrationFraction": "migration_fraction", "peerRunId": "peer_run_id",
                "migrationinterval": "migration_interval", "migrationfraction": "migration_fraction",
                "peerrunid": "peer_run_id"},
}
# Field -> the option path reported in problems and written by to_dict.
_CAMEL = {v: k for k, v in _FLAT.items()}
_CAMEL.update({"ct": "compatibility.CT", "cp": "compatibility.CP", "c1": "compatibility.C1",
               "c2": "compatibility.C2", "c3": "compatibility.C3",
               "distance_cache_max_size": "distanceCache.maxSize",
               "medium_threshold": "adaptiveMutationThresholds.medium",
               "large_threshold": "adaptiveMutationThresholds.large",
               "large_topology_weight": "adaptiveMutationThresholds.largeTopologyWeight",
               "island_peers": "islands.peers", "migration_interval": "islands.migrationInterval",
               "migration_fraction": "islands.migrationFraction", "peer_run_id": "islands.peerRunId",
               "fixed_output_squash": "squashBudget.fixedOutputSquash",
               "allowed_squashes": "squashBudget.allowedSquashes",
               "weight_mutation_rate": "weightMutation.rate", "weight_mutation_power": "weightMutation.power",
               "weight_replace_rate": "weightMutation.replaceRate",
               "client_inputs": "clientFitness.inputs", "client_outputs": "clientFitness.outputs",
               "lease_seconds": "clientFitness.leaseSeconds",
               "fine_tune_min_fraction": "fineTunePopulation.minPopulationFraction",
               "fine_tune_max_fraction": "fineTunePopulation.maxPopulationFraction",
               "fine_tune_base_fraction": "fineTunePopulation.basePopulationFraction",
               "fine_tune_window": "fineTunePopulation.successRateWindow",
               "backpropagation": "backpropagation"})

_PROTO_OPTIONAL = {
    "population_size": "population_size", "elitism": "elitism", "mutation_rate": "mutation_rate",
    "mutation_amount": "mutation_amount", "target_error": "target_error", "iterations": "iterations",
    "max_evaluations": "max_evaluations", "timeout_seconds": "timeout_seconds", "seed": "seed",
    "cost_of_growth": "cost_of_growth", "fitness_sample_rate": "fitness_sample_rate",
    "distance_cache_max_size": "distance_cache_max_size", "species_stagnation": "species_stagnation",
    "survival_threshold": "survival_threshold", "evaluation_batch_size": "evaluation_batch_size",
    "initial_weights": "initial_weights", "fixed_output_squash": "fixed_output_squash", "memetic": "memetic",
    "quantum_adjust": "quantum_adjust",
    "discovery_sample_rate": "discovery_sample_rate", "discovery_interval": "discovery_interval",
    "discovery_plateau": "discovery_plateau",
    "pc_guided_mutation": "pc_guided_mutation",
    "species_elitism": "species_elitism", "champion_min_species_size": "champion_min_species_size",
    "tournament_size": "tournament_size", "mutation_only_rate": "mutation_only_rate",
    "interspecies_crossover_rate": "interspecies_crossover_rate", "target_species": "target_species",
    "compatibility_step": "compatibility_step",
}
_PB_COMPAT = {"ct": "ct", "cp": "cp", "c1": "c1", "c2": "c2", "c3": "c3"}
_PB_ADAPTIVE = {"medium_threshold": "medium", "large_threshold": "large",
                "large_topology_weight": "large_topology_weight"}
_PB_ISLANDS = {"migration_interval": "migration_interval", "migration_fraction": "migration_fraction"}
_PB_FINE_TUNE = {"fine_tune_min_fraction": "min_population_fraction", "fine_tune_max_fraction": "max_population_fraction",
                 "fine_tune_base_fraction": "base_population_fraction", "fine_tune_window": "success_rate_window"}
_PB_WEIGHT_MUTATION = {"weight_mutation_rate": "rate", "weight_mutation_power": "power",
                       "weight_replace_rate": "replace_rate"}
_PB_CLIENT = {"client_inputs": "inputs", "client_outputs": "outputs", "lease_seconds": "lease_seconds"}
_PB_NESTED = (("compatibility", _PB_COMPAT), ("weight_mutation", _PB_WEIGHT_MUTATION), ("client_fitness", _PB_CLIENT), ("adaptive_mutation_thresholds", _PB_ADAPTIVE), ("islands", _PB_ISLANDS),
              ("fine_tune_population", _PB_FINE_TUNE))


def _selection_name(number: int) -> str:
    from neatai.v1 import evolver_pb2 as pb

    try:
        return pb.ParentSelection.Name(number).removeprefix("PARENT_SELECTION_")
    except ValueError:
        raise ConfigError([Problem("selection", f"unknown parent selection {number}")]) from None
