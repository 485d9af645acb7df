"""The generation loop with an ask/tell interface, so creatures can be scored anywhere.

    evo = Evolution(config, inputs=2, outputs=1)
    while not evo.done:
        creatures = evo.ask()                   # the creatures this generation still needs scored
        errors, scores = evaluate(creatures)     # in process, or on remote evaluators
        stats = evo.tell(errors, scores)         # speciate, then breed the next generation

A creature carried unchanged into the next generation (an elite or a species champion) keeps its
score and is not asked for again, so `evaluations` counts creatures actually scored. All
randomness comes from one seeded `random.Random`; `state_dict()` (JSON-serialisable, taken
between generations) holds it with the population, species and innovation numbers, so a run
resumed with `Evolution.from_state` continues exactly as the uninterrupted run would.
"""
from __future__ import annotations

import copy
import gc
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from neatai.creature import Creature, CreatureError
from neatai.genome.crossover import breed, gene_weights
from neatai.genome.innovation import InnovationTracker
from neatai.genome.operators import copy_creature, initial_creature, mutate, perturb_weights, sort_synapses
from neatai.genome.pc_guided import guided_mutation, has_signals
from neatai.tracing import span

from .config import EvolverConfig
from .distance import DistanceCache, Genome
from .memetic import fine_tune_fraction, quantum_fine_tune
from .species import Species, allocate, breeding, rank, speciate

STATE_VERSION = 1
DEDUPE_TRIES = 8


@dataclass(frozen=True)
class GenerationStats:
    generation: int
    best_score: float
    best_error: float
    mean_score: float
    mean_error: float
    species: int
    evaluations: int
    hidden_neurons: int  # of the best creature so far
    synapses: int
    phase_seconds: dict[str, float] = field(default_factory=dict)
    solved: bool = False
    done: bool = False


class Evolution:
    def __init__(self, config: EvolverConfig, inputs: int, outputs: int,
                 seed_creatures: Sequence[Creature] | None = None):
        self.config = config
        self.inputs, self.outputs = inputs, outputs
        self.seed = config.seed if config.seed is not None else random.SystemRandom().getrandbits(63)
        self.rng = random.Random(self.seed)
        self.tracker = InnovationTracker()
        self.distance = DistanceCache.from_config(config)
        self.species: list[Species] = []
        self.next_species_id = 0
        self.cp = config.compatibility_threshold  # moves towards targetSpecies when that is set
        self.generation = 0
        self.evaluations = 0
        self.best: Creature | None = None
        self.best_score = -math.inf
        self.best_error = math.inf
        self._imports: list[Creature] = []
        self._asked = False  # ask() was called for the current generation
        self._scored: list[tuple[Creature, float, float]] = []
        self._genomes: dict[str, Genome] = {}  # id -> genome of the last scored generation (a cache)
        self._children: list[int] = []  # population slots bred by the last tell (trained copies may take them)
        self._fine_tune: list[tuple[int, int]] = []  # (trained, improved) of the last generations
        self._previous_fittest: tuple[Creature, float] | None = None  # quantumAdjust's first reference
        self._elapsed = 0.0
        self._t0 = time.monotonic()
        seeds = [self._admit(c) for c in (seed_creatures or ())][:config.population_size]
        self.population: list[Creature] = seeds + [
            initial_creature(inputs, outputs, self.rng, config.initial_weights, config.fixed_output_squash,
                             config.squash_pool, forward_only=not config.feedback_loop)
            for _ in range(config.population_size - len(seeds))]
        self.ids = [c.structural_hash() for c in self.population]
        self.scores: list[float | None] = [None] * len(self.population)
        self.errors: list[float | None] = [None] * len(self.population)

    # ---- ask / tell ----------------------------------------------------------------------------

    def ask(self) -> list[Creature]:
        """The creatures of the current generation that still need a score, in a fixed order."""
        self._asked = True
        return [self.population[i] for i in self._pending()]

    def tell(self, errors: Sequence[float], scores: Sequence[float]) -> GenerationStats:
        """Scores for `ask()`'s creatures, in its order; advances one generation."""
        # Breeding allocates many small acyclic objects; the cyclic collector would rescan the
        # whole population again and again (superlinear in its size) and free nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._tell(errors, scores)
        finally:
            if collecting:
                gc.enable()

    def _tell(self, errors: Sequence[float], scores: Sequence[float]) -> GenerationStats:
        pending = self._pending()
        if not pending:  # the last generation was scored and the run ended: nothing was bred
            raise RuntimeError("the run is done: no creatures are waiting for scores")
        if len(errors) != len(pending) or len(scores) != len(pending):
            raise ValueError(f"expected {len(pending)} errors and scores, got {len(errors)} and {len(scores)}")
        for i, e, s in zip(pending, errors, scores):
            e, s = float(e), float(s)
            self.errors[i] = e if math.isfinite(e) else math.inf
            self.scores[i] = s if math.isfinite(s) else -math.inf
        self.evaluations += len(pending)
        for i in range(len(self.population)):  # first best wins ties: deterministic
            if self.scores[i] > self.best_score:
                self.best, self.best_score, self.best_error = self.population[i], self.scores[i], self.errors[i]
        self.generation += 1
        means = (_mean(self.scores), _mean(self.errors))
        order = sorted(range(len(self.population)), key=lambda i: (-self.scores[i], i))
        self._scored = [(self.population[i], self.scores[i], self.errors[i]) for i in order]
        phases = {}
        t = time.perf_counter()
        with span("speciate"):
            known = self._genomes  # creatures carried over, or bred identical to a parent
            genomes = [known.get(cid) or Genome.of(c, self.tracker, cid)
                       for c, cid in zip(self.population, self.ids)]
            self._genomes = {g.id: g for g in genomes}
            self.species, self.next_species_id = speciate(
                genomes, self.population, self.species, self.cp, self.distance,
                self.next_species_id, self.generation)
            rank(self.species, self.scores, self.generation, self.population, genomes)
            self.cp = adjust_threshold(self.cp, len(self.species), self.config)
        phases["speciate"] = time.perf_counter() - t
        stats_species = len(self.species)
        done = self.done
        if not done:
            t = time.perf_counter()
            with span("reproduce"):
                self._reproduce()
            phases["reproduce"] = time.perf_counter() - t
        return self._stats(phases, stats_species, done, means)

    def run(self, evaluate: Callable[[list[Creature]], tuple[Sequence[float], Sequence[float]]],
            on_generation: Callable[[GenerationStats], None] | None = None) -> GenerationStats:
        """ask/evaluate/tell until done; the last generation's stats."""
        stats = None
        while not self.done:
            errors, scores = evaluate(self.ask())
            stats = self.tell(errors, scores)
            if on_generation:
                on_generation(stats)
        return stats

    # ---- status ----------------------------------------------------------------------------------

    @property
    def solved(self) -> bool:
        return self.best_error <= self.config.target_error

    @property
    def elapsed(self) -> float:
        return self._elapsed + time.monotonic() - self._t0

    @property
    def done(self) -> bool:
        c = self.config
        return (self.solved
                or (c.iterations is not None and self.generation >= c.iterations)
                or (c.max_evaluations is not None and self.evaluations >= c.max_evaluations)
                or (c.timeout_seconds is not None and self.elapsed >= c.timeout_seconds))

    def ranked(self) -> list[tuple[Creature, float, float]]:
        """(creature, score, error) of the last scored generation, best first (empty before the first)."""
        return list(self._scored)

    # ---- islands -------------------------------------------------------------------------------

    def import_creatures(self, creatures: Sequence[Creature]) -> int:
        """Migrants (or seeds) take the places of the last unscored creatures at once while the
        current generation has not been asked for; otherwise they join the next population in
        place of the last offspring (a generation being scored is never changed)."""
        limit = self.config.population_size - self.config.elitism
        admitted = [self._admit(c) for c in creatures][:limit]
        placed = 0
        if not self._asked:
            pending = self._pending()
            placed = min(len(admitted), len(pending))
            for i, c in zip(pending[len(pending) - placed:], admitted[:placed]):
                self.population[i], self.ids[i] = c, c.structural_hash()
            taken = set(pending[len(pending) - placed:])
            self._children = [i for i in self._children if i not in taken]  # not for trained copies
        queued = len(self._imports)
        self._imports = (self._imports + admitted[placed:])[:limit]
        return placed + len(self._imports) - queued

    def emigrants(self) -> list[Creature]:
        """The best `migration_fraction` of the scored population, for island exchange."""
        n = max(1, round(self.config.migration_fraction * len(self.population)))
        return [c for c, _, _ in self._scored[:n]]

    # ---- memetic fine-tuning (reference/neat-ai.md §4.4) ----------------------------------------

    @property
    def fine_tune_fraction(self) -> float:
        return fine_tune_fraction(self.config, self._fine_tune)

    def fine_tune_candidates(self) -> tuple[list[Creature], int]:
        """The best `fine_tune_fraction` of the generation just scored (at most as many as
        offspring were bred, whose places trained copies take) and the seed to train them with
        (drawn from the run's generator, so training is reproducible); call after `tell`."""
        n = min(round(self.fine_tune_fraction * self.config.population_size), len(self._children))
        if n == 0:
            return [], 0
        return [c for c, _, _ in self._scored[:n]], self.rng.getrandbits(63)

    def add_trained(self, trained: Sequence) -> int:
        """Results of training `fine_tune_candidates()` (objects with creature, error_before and
        error_after): each copy that came out better takes the place of an offspring, from the
        last one back, unless it is already in the population. Returns how many improved."""
        better = [t.creature for t in trained if t.error_after < t.error_before]
        self._fine_tune = (self._fine_tune + [(len(trained), len(better))])[-self.config.fine_tune_window:]
        self._place(better)
        return len(better)

    def add_quantum(self, count: int) -> int:
        """NEAT-AI's quantum fine-tuning (quantumAdjust, reference/neat-ai.md §4.4): up to
        `count` copies of the generation's fittest creature, each adjusted against a reference
        creature (memetic.quantum_fine_tune), take offspring places like trained copies (call
        after `add_trained`, which goes first). References: the previous generation's fittest
        when it differs, then near-top creatures of this generation at rank 1 + floor(n*U*U),
        as NEAT-AI draws them. The copies alternate between the forward and the randomising
        step, backtracking from a reference that scored better. Returns how many joined."""
        if not self._scored:
            return 0
        fittest, score, _ = self._scored[0]
        previous, self._previous_fittest = self._previous_fittest, (fittest, score)
        refs = [previous] if previous and previous[0].structural_hash() != fittest.structural_hash() else []
        n = len(self._scored)
        while len(refs) < count and n > 1:
            refs.append(self._scored[1 + int((n - 1) * self.rng.random() * self.rng.random())][:2])
        variants = [quantum_fine_tune(fittest, score, ref, self.rng, forward_only=k % 2 == 0,
                                      backtrack=ref_score > score)
                    for k, (ref, ref_score) in enumerate(refs[:count])]
        return self._place([v for v in variants if v is not None])

    def _place(self, creatures: Sequence[Creature]) -> int:
        """Each creature not in the population yet takes the place of an offspring, from the
        last one back, while there are offspring places left; returns how many did."""
        seen = set(self.ids)
        slots = list(self._children)
        placed = 0
        for creature in creatures:
            creature = self._admit(creature)
            cid = creature.structural_hash()
            if cid in seen or not slots:
                continue
            i = slots.pop()
            seen.add(cid)
            self.population[i], self.ids[i] = creature, cid
            placed += 1
        self._children = slots
        return placed

    def _admit(self, c: Creature) -> Creature:
        if (c.input, c.output) != (self.inputs, self.outputs):
            raise ValueError(f"creature has {c.input} inputs/{c.output} outputs, the run {self.inputs}/{self.outputs}")
        if c.recurrent and not self.config.feedback_loop:
            raise ValueError("recurrent creature in a forward-only run (feedbackLoop is off)")
        memetic = c.memetic
        c = copy_creature(c)
        c.memetic = copy.deepcopy(memetic)  # a trained or fine-tuned copy keeps its record (offspring do not)
        sort_synapses(c)
        return c

    # ---- reproduction ----------------------------------------------------------------------------

    def _pending(self) -> list[int]:
        return [i for i, s in enumerate(self.scores) if s is None]

    def _reproduce(self) -> None:
        cfg, rng, scores = self.config, self.rng, self.scores
        size = cfg.population_size
        order = sorted(range(len(self.population)), key=lambda i: (-scores[i], i))
        nxt: list[int | Creature] = list(order[:cfg.elitism])  # ints: carried unchanged with their score
        seen = {self.ids[i] for i in nxt}
        imports, self._imports = self._imports, []
        breeders = breeding(self.species, self.generation, cfg.species_stagnation, cfg.species_elitism)
        counts = allocate(breeders, scores, size - len(nxt) - len(imports))
        children: list[tuple[Creature, str]] = []
        genes: dict[int, dict] = {}  # gene_weights of parents, built once per parent
        survivors = [s.members[:max(min(2, len(s.members)), math.ceil(cfg.survival_threshold * len(s.members)))]
                     for s in breeders]
        for k, (s, n) in enumerate(zip(breeders, counts)):
            members = s.members
            champion = members[0]
            if n and len(members) >= cfg.champion_min_species_size and self.ids[champion] not in seen:
                nxt.append(champion)
                seen.add(self.ids[champion])
                n -= 1
            parents = survivors[k]
            others = survivors[:k] + survivors[k + 1:]
            for _ in range(n):
                child, owned, cid = self._child(parents, others, genes)
                cid = cid or child.structural_hash()
                for _ in range(DEDUPE_TRIES):  # NEAT-AI DeDuplicator: a duplicate is bred anew
                    if cid not in seen:
                        break
                    if not owned:
                        child, owned = copy_creature(child), True
                    mutate(child, cfg, rng, 1)
                    cid = child.structural_hash()
                seen.add(cid)
                children.append((child, cid))
        population, ids, new_scores, new_errors = [], [], [], []
        for i in nxt:
            population.append(self.population[i])
            ids.append(self.ids[i])
            new_scores.append(scores[i])
            new_errors.append(self.errors[i])
        self._children = list(range(len(population), len(population) + len(children)))
        for child, cid in children + [(c, c.structural_hash()) for c in imports]:
            population.append(child)
            ids.append(cid)
            new_scores.append(None)
            new_errors.append(None)
        self.population, self.ids, self.scores, self.errors = population, ids, new_scores, new_errors
        self._asked = False

    def _mutate(self, child: Creature) -> None:
        """A child's mutation: with pc_guided_mutation, a child carrying predictive-coding
        signals (it descends from a PC-trained creature) gets a PC-guided one half the time."""
        cfg, rng = self.config, self.rng
        if cfg.pc_guided_mutation and has_signals(child) and rng.random() < 0.5 and guided_mutation(child, rng):
            return
        mutate(child, cfg, rng)

    def _child(self, parents: list[int], others: list[list[int]],
               genes: dict[int, dict]) -> tuple[Creature, bool, str | None]:
        """A child of `parents` (a species' survivors, best first; `others`: the other species'),
        whether it owns all its parts (a crossover child shares its parents'), and its id when
        known without hashing (it equals its fitter parent)."""
        rng, cfg = self.rng, self.config
        a = self._pick(parents)
        if cfg.mutation_only_rate is not None and rng.random() < cfg.mutation_only_rate:
            b = a
        elif others and rng.random() < cfg.interspecies_crossover_rate:
            b = self._pick(rng.choice(others))
        else:
            b = self._pick(parents)
        if a == b:
            child = copy_creature(self.population[a])
            self._perturb(child)
            self._mutate(child)
            return child, True, None
        if (self.scores[b], -b) > (self.scores[a], -a):
            a, b = b, a
        other = genes.get(b)
        if other is None:
            other = genes[b] = gene_weights(self.population[b])
        child, same = breed(self.population[a], self.population[b], rng, other)
        perturb = rng.random() < cfg.weight_mutation_rate
        if perturb or rng.random() < cfg.mutation_rate:
            child = copy_creature(child)
            if perturb:
                perturb_weights(child, rng, cfg.weight_mutation_power, cfg.weight_replace_rate)
            if not perturb or rng.random() < cfg.mutation_rate:
                self._mutate(child)
            return child, True, None
        return child, False, self.ids[a] if same else None

    def _perturb(self, child: Creature) -> None:
        cfg = self.config
        if cfg.weight_mutation_rate and self.rng.random() < cfg.weight_mutation_rate:
            perturb_weights(child, self.rng, cfg.weight_mutation_power, cfg.weight_replace_rate)

    def _pick(self, parents: list[int]) -> int:
        """A parent by the run's selection; `parents` are best first."""
        rng, cfg = self.rng, self.config
        if cfg.selection == "TOURNAMENT":
            return parents[min(rng.randrange(len(parents)) for _ in range(cfg.tournament_size))]
        if cfg.selection == "FITNESS_PROPORTIONATE":
            scores = [self.scores[i] for i in parents]
            low = min((x for x in scores if math.isfinite(x)), default=0.0)
            weights = [x - low if math.isfinite(x) else 0.0 for x in scores]
            total = math.fsum(weights)
            if total > 0:
                r = rng.random() * total
                for i, w in zip(parents, weights):
                    r -= w
                    if r < 0:
                        return i
                return parents[0]
        return rng.choice(parents)

    def _stats(self, phases: dict[str, float], species: int, done: bool,
               means: tuple[float, float]) -> GenerationStats:
        best = self.best
        return GenerationStats(
            generation=self.generation, best_score=self.best_score, best_error=self.best_error,
            mean_score=means[0], mean_error=means[1], species=species, evaluations=self.evaluations,
            hidden_neurons=best.hidden_count if best else 0, synapses=len(best.synapses) if best else 0,
            phase_seconds=phases, solved=self.solved, done=done)

    # ---- checkpoints -----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to resume between generations, as JSON-compatible values."""
        version, internal, gauss = self.rng.getstate()
        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "inputs": self.inputs, "outputs": self.outputs, "seed": self.seed,
            "rng": [version, list(internal), gauss],
            "innovation": self.tracker.state_dict(),
            "population": [c.to_dict() for c in self.population],
            "scores": [_num_out(s) for s in self.scores],
            "errors": [_num_out(e) for e in self.errors],
            "species": [s.state_dict() for s in self.species],
            "nextSpeciesId": self.next_species_id,
            "compatibilityThreshold": self.cp,
            "generation": self.generation, "evaluations": self.evaluations,
            "best": self.best.to_dict() if self.best else None,
            "bestScore": _num_out(self.best_score), "bestError": _num_out(self.best_error),
            "imports": [c.to_dict() for c in self._imports],
            "asked": self._asked,
            "scored": [{"creature": c.to_dict(), "score": _num_out(sc), "error": _num_out(e)}
                       for c, sc, e in self._scored],
            "elapsedSeconds": self.elapsed,
            "children": list(self._children),
            "fineTune": [list(w) for w in self._fine_tune],
            "previousFittest": None if self._previous_fittest is None else {
                "creature": self._previous_fittest[0].to_dict(), "score": _num_out(self._previous_fittest[1])},
        }

    @classmethod
    def from_state(cls, state: dict) -> Evolution:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported evolution state version {state.get('version')!r}")
        self = cls.__new__(cls)
        self.config = EvolverConfig.from_dict(state["config"])
        self.inputs, self.outputs, self.seed = state["inputs"], state["outputs"], state["seed"]
        self.rng = random.Random()
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.tracker = InnovationTracker.from_state(state["innovation"])
        self.distance = DistanceCache.from_config(self.config)
        self.population = [_load(d) for d in state["population"]]
        self.ids = [c.structural_hash() for c in self.population]
        self.scores = [_num_in(s) for s in state["scores"]]
        self.errors = [_num_in(e) for e in state["errors"]]
        self.species = []
        for d in state["species"]:
            rep = _load(d["representative"])
            cid = rep.structural_hash()
            self.species.append(Species(d["id"], rep, Genome.of(rep, self.tracker, cid), d["created"],
                                        -math.inf if d["bestScore"] is None else d["bestScore"], d["lastImproved"]))
        self.next_species_id = state["nextSpeciesId"]
        self.cp = state.get("compatibilityThreshold", self.config.compatibility_threshold)
        self.generation, self.evaluations = state["generation"], state["evaluations"]
        self.best = _load(state["best"]) if state["best"] else None
        self.best_score = _num_in(state["bestScore"])
        self.best_error = _num_in(state["bestError"])
        self._imports = [_load(d) for d in state["imports"]]
        self._asked = state.get("asked", False)
        self._scored = [(_load(d["creature"]), _num_in(d["score"]), _num_in(d["error"]))
                        for d in state["scored"]]
        self._genomes = {}
        self._children = list(state.get("children", []))
        self._fine_tune = [tuple(w) for w in state.get("fineTune", [])]
        previous = state.get("previousFittest")
        self._previous_fittest = None if previous is None else (_load(previous["creature"]), _num_in(previous["score"]))
        self._elapsed = state["elapsedSeconds"]
        self._t0 = time.monotonic()
        return self


def adjust_threshold(cp: float, species: int, config: EvolverConfig) -> float:
    """The dynamic compatibility threshold: CP grows when there are more species than
    targetSpecies and shrinks when fewer, by compatibilityStep times the relative gap (at most
    halved or doubled per generation: distances drift as weights spread, a fixed step lags);
    unchanged when targetSpecies is 0."""
    target = config.target_species
    if not target or species == target:
        return cp
    factor = 1.0 + config.compatibility_step * (species - target) / target
    return cp * min(2.0, max(0.5, factor))


def _load(d: dict) -> Creature:
    try:
        return Creature.from_json(d)
    except CreatureError as e:
        raise ValueError(f"corrupt evolution state: {e}") from None


def _num_out(v: float | None) -> float | str | None:
    """JSON has no infinities: they travel as strings."""
    if v is None or math.isfinite(v):
        return v
    return "inf" if v > 0 else "-inf"


def _num_in(v) -> float | None:
    return float(v) if isinstance(v, str) else v


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan
