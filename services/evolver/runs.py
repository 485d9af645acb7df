"""The run manager: evolution runs in background threads, their history, checkpoints and resumption.

A run loops ask → evaluate → tell, one generation at a time. After
every generation it appends a `GenerationReport` to its history (what WatchRun streams, persisted
line by line), saves an atomic checkpoint (config, dataset, `Evolution.state_dict()`, history
length), and sends its best
creatures to island peers when due. A manager started on a state directory that holds unfinished
runs resumes them from their last checkpoint; since the checkpoint holds the complete evolution
state (random generator included), the resumed run ends exactly as an uninterrupted one would.

While no evaluator is reachable (`EvaluatorHealth`, told of every change through
`evaluators_changed`) the unfinished runs are PAUSED with the reason, and watchers get a report
saying so; they go back to RUNNING when one answers. A run whose evaluate step gave up (the
pool's retry window spent) FAILS, keeping its last completed generation: `resume` continues it
from there, as if the outage had not happened.

Nothing here knows gRPC: the manager is handed its evaluate step (`Evaluate`: in the server,
the evaluator pool, whose transport failures it raises as `EvaluationFailed`), the evaluators'
health and how to start a run's island migration (`StartMigration`: in the server, an
`islands.Migrator`); the servicer adapts these types to `neatai.v1` messages.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Protocol, Sequence

from neatai.creature import Creature, Problem
from neatai.datasets import Dataset, DatasetStore
from neatai.tracing import span

from neatai.tasks import TASKS, infer_task

from .asktell import ClientBatch, creature_id, parse_id, restored, stored
from .checkpoint import VALIDATION_DATASET, CheckpointError, CheckpointStore, valid_run_id
from .config import EvolverConfig
from .evolution import Evolution
from .validation import Activate, Validation

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 2


class EvaluationFailed(RuntimeError):
    """The evaluate step could not score a generation; the run fails with this message."""


class Evaluate(Protocol):
    """Scores creatures on a dataset: (errors, scores) in creature order. Raises
    `EvaluationFailed` when they cannot be scored (any other exception also fails the run)."""

    def __call__(self, dataset: Dataset, creatures: Sequence[Creature], *, cost: str, cost_of_growth: float,
                 sample_rate: float, feedback_loop: bool, batch_size: int) -> tuple[list[float], list[float]]: ...


class Train(Protocol):
    """Trains creatures on a dataset (memetic runs): per creature, in order, an object with
    creature (the trained copy), error_before and error_after. Raises `EvaluationFailed`."""

    def __call__(self, dataset: Dataset, creatures: Sequence[Creature], *, cost: str, feedback_loop: bool,
                 options: dict, batch_size: int) -> Sequence: ...


class Discover(Protocol):
    """Asks the discovery service to improve a creature on a dataset: an object with creature
    (the improvement, or None), score_delta and seconds. Raises on failure (any exception: the
    run evolves on without that discovery)."""

    def __call__(self, dataset: Dataset, creature: Creature, *, sample_rate: float, cost: str, cost_of_growth: float,
                 feedback_loop: bool, seed: int): ...


class DiscoveryJob:
    """One discovery of a run's best creature, on a thread of its own: evolution goes on while
    it works and collects what it found at the first generation after it is done."""

    def __init__(self, discover: Discover, run: "Run", creature: Creature, generation: int):
        self.generation = generation
        self.found = None
        self.error = ""
        self.seconds = 0.0
        self.done = threading.Event()
        config = run.config
        kwargs = dict(sample_rate=config.discovery_sample_rate, cost=config.cost_name,
                      cost_of_growth=config.cost_of_growth, feedback_loop=config.feedback_loop,
                      seed=(config.seed or 0) + generation)
        self.thread = threading.Thread(target=self._work, args=(discover, run.dataset, creature, kwargs),
                                       name=f"discover-{run.id}", daemon=True)
        self.thread.start()

    def _work(self, discover: Discover, dataset: Dataset, creature: Creature, kwargs: dict) -> None:
        t = time.perf_counter()
        try:
            with span("discover", generation=self.generation):
                self.found = discover(dataset, creature, **kwargs)
        except Exception as e:  # noqa: BLE001 — a failed discovery never stops the run
            self.error = str(e) or type(e).__name__
            log.warning("discovery at generation %d failed: %s", self.generation, self.error)
        self.seconds = time.perf_counter() - t
        self.done.set()


class Migration(Protocol):
    """A run's island exchange: sends emigrants to the peers when a generation is due."""

    def maybe_send(self, generation: int, emigrants: Callable[[], Sequence[Creature]]) -> bool: ...

    def close(self, wait: bool = False) -> None: ...


class EvaluatorHealth(Protocol):
    """Which evaluators answer (the server's evaluator pool)."""

    def reachable(self) -> bool: ...

    def unreachable(self) -> list[tuple[str, str]]: ...  # (target, why) of each one down


# (peers, peer_run_id, interval in generations) -> the run's Migration.
StartMigration = Callable[[Sequence[str], str, int], Migration]


class RunState(enum.Enum):
    RUNNING = 1
    SOLVED = 2  # reached target_error
    EXHAUSTED = 3  # used up generations, evaluations or time
    STOPPED = 4
    FAILED = 5
    PAUSED = 6  # no evaluator reachable: waiting for one

    @property
    def finished(self) -> bool:
        return self not in (RunState.RUNNING, RunState.PAUSED)


class RunNotFound(KeyError):
    def __init__(self, run_id: str):
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"no run {self.run_id!r}"


class RunExists(ValueError):
    """The client-chosen run id is taken."""


class RunFinished(RuntimeError):
    """The run has ended; it no longer accepts creatures."""


@dataclass(frozen=True)
class RunLimits:
    """What one evolver takes on, checked before anything is allocated for a run."""

    max_population_size: int = 100_000
    max_active_runs: int = 32  # running or paused at once


class OverLimit(RuntimeError):
    """A request beyond a RunLimits setting (`limit` names it): RESOURCE_EXHAUSTED."""

    def __init__(self, limit: str, message: str):
        super().__init__(message)
        self.limit = limit


class NotResumable(RuntimeError):
    """Only a failed run can be resumed."""


class NotClientScored(RuntimeError):
    """Ask/Tell on a run that scores on a dataset."""


class ShuttingDown(RuntimeError):
    """The evolver is draining: it starts no new runs."""


class InvalidRequest(ValueError):
    """Bad input other than the config; `problems` carry field paths for the servicer."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass
class GenerationReport:
    run_id: str
    generation: int
    state: RunState
    best_score: float
    best_error: float
    mean_score: float
    mean_error: float
    species: int
    evaluations: int
    hidden_neurons: int
    synapses: int
    phase_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    # With a validation dataset (validation.py): the run's best creature's error and metric there.
    validation_error: float | None = None
    validation_accuracy: float | None = None
    validation_r2: float | None = None
    # Memetic runs: creatures trained after this generation was scored, how many came out better.
    trained: int = 0
    trained_improved: int = 0
    fine_tune_fraction: float = 0.0
    quantum_adjusted: int = 0  # quantumAdjust copies of the fittest that joined the next generation
    # Discovery: a run that finished during this generation, whether its creature joined the
    # population, its score gain, its seconds and why it failed.
    discovery_runs: int = 0
    discovery_improved: bool = False
    discovery_score_delta: float = 0.0
    discovery_seconds: float = 0.0
    discovery_error: str = ""
    # A PAUSED report (live only, never in the history): why the run waits.
    pause_reason: str = ""
    # "target: why" of the evaluators that were unreachable when the report was made.
    unreachable_evaluators: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe: non-finite numbers (every creature failed) travel as "inf"/"-inf"/"nan"."""
        d = {k: _json_number(v) for k, v in asdict(self).items()}
        d["phase_seconds"] = {k: _json_number(v) for k, v in self.phase_seconds.items()}
        d["state"] = self.state.name
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GenerationReport:
        numbers = {k: float(v) for k, v in d.items() if k in _FLOAT_FIELDS and v is not None}
        return cls(**{**d, **numbers, "state": RunState[d["state"]],
                      "phase_seconds": {k: float(v) for k, v in d["phase_seconds"].items()}})


_FLOAT_FIELDS = ("best_score", "best_error", "mean_score", "mean_error", "wall_seconds", "validation_error",
                 "validation_accuracy", "validation_r2", "fine_tune_fraction", "discovery_score_delta",
                 "discovery_seconds")


def _json_number(v):
    return str(v) if isinstance(v, float) and not math.isfinite(v) else v


class Run:
    """One evolution run: its inputs, its evolution, and what it has reported so far."""

    def __init__(self, run_id: str, config: EvolverConfig, dataset: Dataset | None, evolution: Evolution,
                 state: RunState = RunState.RUNNING, message: str = "", history: Sequence[GenerationReport] = (),
                 validation: Validation | None = None, told: dict[int, tuple[float, float]] | None = None):
        self.id = run_id
        self.config = config
        self.dataset = dataset  # None: client-computed fitness (Ask/Tell)
        self.batch: ClientBatch | None = None  # the generation clients are scoring
        self.told = told or {}  # scores stored for the generation in progress when the run was restored
        self.evolution = evolution
        self.validation = validation
        self.state = state
        self.message = message
        self.history: list[GenerationReport] = list(history)
        self.cond = threading.Condition()
        self.stop_requested = False
        self.halted = False  # abandon without writing anything more (crash simulation, hard shutdown)
        self.thread: threading.Thread | None = None
        self.migrator: Migration | None = None
        self.discovery: DiscoveryJob | None = None
        self.last_discovery = 0  # generation the latest discovery started at
        # The checkpoint of the last completed generation (or import): a failed run resumes from it.
        self.saved: dict | None = None

    @property
    def best(self) -> Creature | None:
        """The lowest validation error when the run has a validation dataset, else the best score."""
        with self.cond:
            if self.validation is not None and self.validation.best is not None:
                return self.validation.best
            return self.evolution.best

    @property
    def latest(self) -> GenerationReport | None:
        with self.cond:
            return self.history[-1] if self.history else None

    def population_best_first(self) -> list[Creature]:
        """The last scored generation best first; before any is scored, the initial population."""
        with self.cond:
            ranked = self.evolution.ranked()
            return [c for c, _, _ in ranked] if ranked else list(self.evolution.population)

    def emigrants(self) -> list[Creature]:
        with self.cond:
            return self.evolution.emigrants()


class RunManager:
    """Owns every run of one evolver."""

    def __init__(self, evaluate: Evaluate, datasets: DatasetStore, checkpoints: CheckpointStore | None = None,
                 start_migration: StartMigration | None = None, activate: Activate | None = None,
                 train: Train | None = None, discover: Discover | None = None,
                 evaluators: EvaluatorHealth | None = None, limits: RunLimits = RunLimits()):
        self.evaluate = evaluate
        self.limits = limits
        self.evaluators = evaluators  # None: always reachable (runs never pause)
        self.train = train  # for memetic runs; None: they are refused
        self.discover = discover  # None: runs asking for discovery evolve without it
        self.activate = activate  # for the validation metric; None: validation reports the error only
        self.datasets = datasets
        self.checkpoints = checkpoints
        self.start_migration = start_migration
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ---- lifecycle -----------------------------------------------------------------------------

    def start_run(self, config: EvolverConfig, dataset_id: str, run_id: str = "",
                  seed_creatures: Sequence[Creature] = (), validation_dataset_id: str = "", task: str = "") -> Run:
        """Validate and start a run. Raises OverLimit, DatasetNotFound, InvalidRequest, RunExists,
        ShuttingDown. `task` ("classification", "regression"; empty: inferred from the targets)
        decides the validation metric."""
        if self._closed:
            raise ShuttingDown("this evolver is shutting down; start the run on another one")
        self._check_limits(config)
        problems = []
        if config.client_fitness:
            dataset, held_out = None, None
            inputs, outputs = config.client_inputs, config.client_outputs
            if dataset_id:
                problems.append(Problem("dataset_id", "must be empty: config.clientFitness runs are scored by "
                                                      "clients through Ask/Tell"))
            if validation_dataset_id:
                problems.append(Problem("validation_dataset_id", "a run with config.clientFitness has no dataset "
                                                                 "to hold a part of out"))
        else:
            if not dataset_id:
                raise InvalidRequest([Problem("dataset_id", "required: register the dataset with DatasetService first")])
            dataset = self.datasets.get(dataset_id)
            held_out = self.datasets.get(validation_dataset_id) if validation_dataset_id else None
            inputs, outputs = dataset.inputs, dataset.outputs
        if held_out is not None and (held_out.inputs, held_out.outputs) != (dataset.inputs, dataset.outputs):
            problems.append(Problem("validation_dataset_id", f"has {held_out.inputs} inputs/{held_out.outputs} outputs, "
                                                             f"the dataset {dataset.inputs}/{dataset.outputs}"))
        if task and task not in TASKS:
            problems.append(Problem("task", f"unknown task {task!r}"))
        if run_id and not valid_run_id(run_id):
            problems.append(Problem("run_id", "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"))
        problems += shape_problems(seed_creatures, inputs, outputs, "seed_creatures", config.feedback_loop)
        if config.memetic and self.train is None:
            problems.append(Problem("config.memetic", "this evolver has no evaluators to train on"))
        if problems:
            raise InvalidRequest(problems)
        if config.discovery and self.discover is None:
            log.warning("the run asks for discovery, but this evolver has no discovery service: it evolves without")
        run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
        evolution = Evolution(config, inputs, outputs, seed_creatures=list(seed_creatures) or None)
        validation = Validation(held_out, task or infer_task(dataset.Y)) if held_out is not None else None
        run = Run(run_id, config, dataset, evolution, validation=validation)
        with self._lock:
            if run_id in self._runs or (self.checkpoints and self.checkpoints.exists(run_id)):
                raise RunExists(f"run {run_id!r} already exists")
            self._runs[run_id] = run
        if self.checkpoints:
            if dataset is not None:
                self.checkpoints.save_dataset(run_id, dataset)
            if held_out is not None:
                self.checkpoints.save_dataset(run_id, held_out, VALIDATION_DATASET)
            self._save(run)
        self._launch(run)
        return run

    def _check_limits(self, config: EvolverConfig) -> None:
        self._check_population(config)
        limits = self.limits
        active = sum(not run.state.finished for run in self.list())
        if active >= limits.max_active_runs:
            raise OverLimit("max_active_runs",
                            f"this evolver has {active} runs going, its limit (max_active_runs; neatai serve "
                            "evolver --max-runs): wait for one to end or stop one")

    def _check_population(self, config: EvolverConfig) -> None:
        limits = self.limits
        if config.population_size > limits.max_population_size:
            raise OverLimit("max_population_size",
                            f"population_size {config.population_size} is over this evolver's limit of "
                            f"{limits.max_population_size} (max_population_size; neatai serve evolver "
                            "--max-population)")

    def resume_all(self) -> list[str]:
        """Load every checkpointed run; continue those that were still running. Returns their ids."""
        if not self.checkpoints:
            return []
        resumed = []
        for run_id, cp in self.checkpoints.load_all():
            if run_id in self._runs:
                continue
            try:
                run = self._restore(run_id, cp)
            except Exception as e:  # noqa: BLE001 — a damaged checkpoint must not stop the evolver starting
                log.error("cannot restore run %s: %s: %s", run_id, type(e).__name__, e)
                continue
            with self._lock:
                self._runs[run_id] = run
            if not run.state.finished:
                run.state, run.message = RunState.RUNNING, ""  # paused when it stopped: it tries again
                log.info("resuming run %s at generation %d", run_id, run.evolution.generation)
                self._launch(run)
                resumed.append(run_id)
        return resumed

    def _restore(self, run_id: str, cp: dict) -> Run:
        if cp.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"unknown checkpoint version {cp.get('version')!r}")
        config = EvolverConfig.from_dict(cp["config"])
        self._check_population(config)  # a run this evolver would not start, it does not resume
        dataset = None
        if not config.client_fitness:
            dataset = self.checkpoints.load_dataset(run_id)
            if dataset.id != cp["dataset_id"]:
                raise ValueError(f"dataset file holds {dataset.id}, checkpoint names {cp['dataset_id']}")
            self.datasets.register(dataset)
        evolution = Evolution.from_state(cp["evolution"])
        history = [GenerationReport.from_dict(h) for h in self.checkpoints.load_history(run_id, cp["history_length"])]
        validation = None
        if cp.get("validation"):
            held_out = self.checkpoints.load_dataset(run_id, VALIDATION_DATASET)
            if held_out.id != cp["validation"]["dataset_id"]:
                raise ValueError(f"validation file holds {held_out.id}, checkpoint names {cp['validation']['dataset_id']}")
            self.datasets.register(held_out)
            validation = Validation.from_state(held_out, cp["validation"])
        told = restored(self.checkpoints.load_scores(run_id, evolution.generation + 1)) if config.client_fitness else {}
        run = Run(run_id, config, dataset, evolution, RunState[cp["state"]], cp.get("message", ""), history,
                  validation, told)
        run.saved = cp
        return run

    def _launch(self, run: Run) -> None:
        if run.config.island_peers and self.start_migration is None:
            log.warning("run %s names island peers, but this manager has no migration: it runs alone", run.id)
        elif run.config.island_peers:
            run.migrator = self.start_migration(run.config.island_peers, run.config.peer_run_id or run.id,
                                                run.config.migration_interval)
        run.thread = threading.Thread(target=self._loop, args=(run,), name=f"run-{run.id}", daemon=True)
        run.thread.start()

    def stop(self, run_id: str, wait_s: float = 10.0) -> RunState:
        run = self.get(run_id)
        with run.cond:
            run.stop_requested = True
            run.cond.notify_all()
        if run.thread is not None:
            run.thread.join(wait_s)
        return run.state

    def resume(self, run_id: str) -> RunState:
        """Continue a FAILED run from its last completed generation. Raises RunNotFound,
        NotResumable, ShuttingDown."""
        if self._closed:
            raise ShuttingDown("this evolver is shutting down; resume the run once it is back")
        run = self.get(run_id)
        with run.cond:
            if run.state is not RunState.FAILED:
                raise NotResumable(f"run {run_id!r} is {run.state.name.lower()}; only a failed run can be resumed")
            if run.thread is not None and run.thread.is_alive():
                raise NotResumable(f"run {run_id!r} is still ending; try again in a moment")
            saved = run.saved
            if saved is None:
                raise NotResumable(f"run {run_id!r} failed before its first checkpoint; start it again")
            # The last completed generation, not the failed one's half-done state: the resumed
            # run then goes exactly as an uninterrupted one.
            restored = Evolution.from_state(json.loads(json.dumps(saved["evolution"])))
            run.evolution = restored
            del run.history[saved["history_length"]:]
            if run.validation is not None and saved.get("validation"):
                run.validation = Validation.from_state(run.validation.dataset, saved["validation"])
            run.state, run.message, run.stop_requested = RunState.RUNNING, "", False
            self._save(run)
            run.cond.notify_all()
        log.info("resuming failed run %s at generation %d", run_id, run.evolution.generation)
        self._launch(run)
        return run.state

    def evaluators_changed(self) -> None:
        """An evaluator went down or came back: pause every unfinished run while none is
        reachable (with the reason), continue them when one is."""
        if self.evaluators is None:
            return
        reachable = self.evaluators.reachable()
        reason = "" if reachable else "no evaluator reachable (" + "; ".join(
            f"{target}: {why}" for target, why in self.evaluators.unreachable()) + "); waiting for one to answer"
        for run in self.list():
            with run.cond:
                if run.state is RunState.RUNNING and not reachable:
                    run.state, run.message = RunState.PAUSED, reason
                elif run.state is RunState.PAUSED and reachable:
                    run.state, run.message = RunState.RUNNING, ""
                else:
                    continue
                run.cond.notify_all()
            log.warning("run %s %s", run.id,
                        f"paused: {reason}" if not reachable else "continues: an evaluator answers")

    def close(self, wait_s: float = 30.0) -> None:
        """Graceful shutdown: each run finishes its generation and stays RUNNING on disk, to resume later."""
        self._end_all(halt=False, wait_s=wait_s)

    def halt(self, wait_s: float = 10.0) -> None:
        """Abandon every run at once without writing another checkpoint (what a crash leaves)."""
        self._end_all(halt=True, wait_s=wait_s)

    def _end_all(self, halt: bool, wait_s: float) -> None:
        self._closed = True
        runs = self.list()
        for run in runs:
            with run.cond:
                if halt:
                    run.halted = True
                run.cond.notify_all()
        deadline = time.monotonic() + wait_s
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))

    # ---- queries -------------------------------------------------------------------------------

    def get(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def list(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())

    def watch(self, run_id: str, from_generation: int = 0, active: Callable[[], bool] = lambda: True,
              poll_s: float = 0.25) -> Iterator[GenerationReport]:
        """Every report from `from_generation` on, history first, until the run ends or `active()` fails.
        Raises RunNotFound at once (not on first iteration)."""
        return self._watch(self.get(run_id), from_generation, active, poll_s)

    def _watch(self, run: Run, from_generation: int, active: Callable[[], bool],
               poll_s: float) -> Iterator[GenerationReport]:
        cursor = 0
        told = ""  # the pause this watcher was last told of ("": none)
        while True:
            with run.cond:
                while cursor < len(run.history) and run.history[cursor].generation < from_generation:
                    cursor += 1
                batch = run.history[cursor:]
                cursor = len(run.history)
                paused = run.message if run.state is RunState.PAUSED else ""
                if paused != told and (paused or told):
                    # A change of state between generations: the latest figures, the new state.
                    batch.append(self._status_report(run, paused))
                    told = paused
                if not batch:
                    if run.state.finished or run.halted or self._closed:
                        return
                    run.cond.wait(poll_s)
            for report in batch:
                if not active():
                    return
                yield report
            if not active():
                return

    def _status_report(self, run: Run, pause_reason: str) -> GenerationReport:
        """A report of the run's state now (caller holds run.cond), repeating the latest figures."""
        latest = run.history[-1] if run.history else GenerationReport(
            run.id, 0, run.state, float("-inf"), float("inf"), float("-inf"), float("inf"), 0, 0, 0, 0)
        return dataclasses.replace(latest, state=run.state, pause_reason=pause_reason, phase_seconds={},
                                   unreachable_evaluators=self._unreachable())

    def _unreachable(self) -> list[str]:
        return [f"{t}: {why}" for t, why in self.evaluators.unreachable()] if self.evaluators else []

    def export(self, run_id: str, limit: int = 0) -> tuple[int, list[Creature]]:
        run = self.get(run_id)
        creatures = run.population_best_first()
        return run.evolution.generation, creatures[:limit] if limit > 0 else creatures

    def import_creatures(self, run_id: str, creatures: Sequence[Creature]) -> int:
        """Hand creatures (seeds or island migrants) to the run: they replace unscored creatures
        at once, or join the next generation when the current one is being scored (never
        changing it). Checkpointed before the call returns, so a crash does not lose them.
        Returns how many were taken (at most population size − elitism)."""
        run = self.get(run_id)
        problems = shape_problems(creatures, run.evolution.inputs, run.evolution.outputs, "creatures",
                                  run.config.feedback_loop)
        if problems:
            raise InvalidRequest(problems)
        with run.cond:
            if run.state.finished:
                raise RunFinished(f"run {run_id!r} has ended ({run.state.name}); it accepts no creatures")
            try:
                accepted = run.evolution.import_creatures(creatures)
            except ValueError as e:  # shape_problems covers what Evolution checks; kept as a guard
                raise InvalidRequest([Problem("creatures", str(e))]) from e
            self._save(run)
        return accepted

    # ---- the generation loop -----------------------------------------------------------------

    def _loop(self, run: Run) -> None:
        config = run.config
        try:
            while True:
                with run.cond:
                    if run.halted or (self._closed and not run.stop_requested):
                        return
                    if run.stop_requested:
                        self._finish(run, RunState.STOPPED, "stopped by request")
                        return
                    if run.evolution.done:  # e.g. resumed after its time budget ran out
                        self._finish(run, RunState.SOLVED if run.evolution.solved else RunState.EXHAUSTED, "")
                        return
                # One trace per generation: evaluate (→ evaluator calls), speciate, reproduce, checkpoint.
                with span("generation", run_id=run.id) as generation_span:
                    t0 = time.perf_counter()
                    with run.cond:
                        creatures = run.evolution.ask()
                    t1 = time.perf_counter()
                    with span("evaluate", creatures=len(creatures)):
                        if config.client_fitness:
                            told = self._client_scores(run, creatures)
                            if told is None:  # stopped, halted or shutting down: the top of the loop decides
                                continue
                            errors, scores = told
                        else:
                            errors, scores = self.evaluate(
                                run.dataset, creatures, cost=config.cost_name, cost_of_growth=config.cost_of_growth,
                                sample_rate=config.fitness_sample_rate, feedback_loop=config.feedback_loop,
                                batch_size=config.evaluation_batch_size)
                    t2 = time.perf_counter()
                    with run.cond:
                        if run.halted:
                            return
                        stats = run.evolution.tell(errors, scores)
                    t3 = time.perf_counter()
                    memetic = self._fine_tune(run) if config.memetic and not stats.done else {}
                    if run.halted:
                        return
                    discovery = self._discovery(run, stats) if config.discovery and not stats.done else {}
                    t3b = time.perf_counter()
                    if run.validation is not None:
                        with span("validate"):
                            self._validate(run)
                    t4 = time.perf_counter()
                    state = RunState.SOLVED if stats.solved else RunState.EXHAUSTED if stats.done else RunState.RUNNING
                    phases = {"ask": t1 - t0, "evaluate": t2 - t1, **stats.phase_seconds, "tell": t3 - t2}
                    if config.memetic:
                        phases["train"] = t3b - t3
                    if run.validation is not None:
                        phases["validate"] = t4 - t3b
                    report = _report(run.id, stats, state, phases, run.evolution.elapsed, run.validation,
                                     {**memetic, **discovery})
                    report.unreachable_evaluators = self._unreachable()
                    generation_span.set_attribute("neatai.generation", report.generation)
                    with run.cond:
                        if run.halted:
                            return
                        run.history.append(report)
                        if run.state is not RunState.PAUSED or state.finished:  # a pause ends when one answers
                            run.state = state
                        t5 = time.perf_counter()
                        with span("checkpoint"):
                            if self.checkpoints:  # history first: the checkpoint then names a length that exists
                                self.checkpoints.append_history(run.id, report.to_dict())
                            self._save(run)
                            if self.checkpoints and config.client_fitness:  # now in the evolution state
                                self.checkpoints.drop_scores(run.id)
                        # Live reports carry it; the persisted line was written before it was known.
                        report.phase_seconds["checkpoint"] = time.perf_counter() - t5
                        run.cond.notify_all()
                if run.migrator is not None:
                    run.migrator.maybe_send(report.generation, run.emigrants)
                if state.finished:
                    log.info("run %s %s at generation %d (best error %.6g)", run.id, state.name.lower(),
                             report.generation, report.best_error)
                    return
        except EvaluationFailed as e:
            self._fail(run, str(e))
        except Exception as e:  # noqa: BLE001 — a broken run must not take the evolver down
            log.exception("run %s failed", run.id)
            self._fail(run, f"{type(e).__name__}: {e}")
        finally:
            if run.migrator is not None:  # let the last exchange go out, unless crashing
                run.migrator.close(wait=not run.halted)

    # ---- client-computed fitness (Ask/Tell) -----------------------------------------------------

    def _client_scores(self, run: Run, creatures: list[Creature]) -> tuple[list[float], list[float]] | None:
        """Offer the generation to clients and wait until each creature is told; None when the run
        is stopped, halted or the evolver shuts down first."""
        with run.cond:
            generation = run.evolution.generation + 1
            run.batch = ClientBatch(generation, creatures, run.config.lease_seconds, run.told)
            run.told = {}
            run.cond.notify_all()  # waiting Asks
            while not run.batch.complete:
                if run.halted or run.stop_requested or self._closed:
                    return None
                run.cond.wait(1.0)
            return run.batch.scores()

    def ask(self, run_id: str, limit: int, wait_s: float) -> tuple[int, list[tuple[str, Creature]], RunState]:
        """Lend up to `limit` creatures of the generation being scored: (generation, [(id, creature)],
        state). Waits up to `wait_s` while none is free. Raises RunNotFound, NotClientScored."""
        run = self._client_run(run_id)
        deadline = time.monotonic() + wait_s
        with run.cond:
            while True:
                batch = run.batch
                if run.state.finished or run.halted or self._closed:
                    return batch.generation if batch else run.evolution.generation, [], run.state
                if batch is not None and not batch.complete:
                    chosen = batch.offer(limit)
                    if chosen:
                        return batch.generation, [(creature_id(batch.generation, k), batch.creatures[k])
                                                  for k in chosen], run.state
                now = time.monotonic()
                if now >= deadline:
                    return batch.generation if batch else run.evolution.generation + 1, [], run.state
                expiry = batch.next_expiry() if batch is not None and not batch.complete else None
                run.cond.wait(max(0.001, min(deadline, expiry or deadline) - now))

    def tell(self, run_id: str, results: Sequence[tuple[str, float, float]]) -> tuple[int, int, int]:
        """Record (id, score, error) results; ids of another generation or scored already are
        ignored. Returns (accepted, ignored, generation being scored after the call). Checkpointed
        before it returns. Raises RunNotFound, NotClientScored, RunFinished, InvalidRequest."""
        run = self._client_run(run_id)
        problems = [Problem(f"scores[{i}].id", f"{rid!r} is not an id Ask hands out ('<generation>-<position>')")
                    for i, (rid, _, _) in enumerate(results) if parse_id(rid) is None]
        if problems:
            raise InvalidRequest(problems)
        with run.cond:
            if run.state.finished:
                raise RunFinished(f"run {run_id!r} has ended ({run.state.name}); it takes no more scores")
            batch = run.batch
            kept = []
            for rid, score, error in results:
                generation, position = parse_id(rid)
                if batch is not None and generation == batch.generation and batch.record(position, score, error):
                    kept.append((position, (score, error)))
            accepted = len(kept)
            if kept:
                if self.checkpoints:
                    self.checkpoints.append_scores(run.id, batch.generation, stored(kept))
                run.cond.notify_all()
            current = batch.generation + 1 if batch is not None and batch.complete else (
                batch.generation if batch is not None else run.evolution.generation + 1)
            return accepted, len(results) - accepted, current

    def _client_run(self, run_id: str) -> Run:
        run = self.get(run_id)
        if not run.config.client_fitness:
            raise NotClientScored(f"run {run_id!r} scores its creatures on dataset {run.dataset.id}; Ask and Tell "
                                  "serve runs started with config.clientFitness")
        return run

    def _fine_tune(self, run: Run) -> dict:
        """Train the generation's best fraction; the better copies join the next generation,
        then (quantumAdjust) quantum fine-tuned copies of the fittest. Returns the report's
        training figures."""
        config = run.config
        with run.cond:
            fraction = run.evolution.fine_tune_fraction
            candidates, seed = run.evolution.fine_tune_candidates()
        improved = quantum = 0
        if candidates:
            with span("train", creatures=len(candidates)):
                trained = self.train(run.dataset, candidates, cost=config.cost_name, feedback_loop=config.feedback_loop,
                                     options={**(config.backpropagation or {}), "seed": seed},
                                     batch_size=config.evaluation_batch_size)
            with run.cond:
                if run.halted:
                    return {}
                improved = run.evolution.add_trained(trained)
        if config.quantum_adjust:
            with run.cond:
                if run.halted:
                    return {}
                quantum = run.evolution.add_quantum(len(candidates))
        return {"trained": len(candidates), "trained_improved": improved, "fine_tune_fraction": fraction,
                "quantum_adjusted": quantum}

    def _discovery(self, run: Run, stats) -> dict:
        """Collect a finished discovery (its creature joins the population as a migrant would),
        and start the next one on the best creature when due: every discovery_interval
        generations, or after discovery_plateau generations without a better best score.
        Returns the report's discovery figures."""
        config, generation = run.config, stats.generation
        fields: dict = {}
        job = run.discovery
        if job is not None and job.done.is_set():
            run.discovery = None
            fields = {"discovery_runs": 1, "discovery_seconds": job.seconds, "discovery_error": job.error}
            found = job.found
            if found is not None and found.creature is not None:
                try:
                    with run.cond:
                        joined = run.evolution.import_creatures([found.creature]) > 0
                    fields.update(discovery_improved=joined, discovery_score_delta=found.score_delta)
                except ValueError as e:  # not a creature this run can take (shape, recurrence)
                    fields["discovery_error"] = f"discovered creature refused: {e}"
        if self.discover is None or run.discovery is not None:
            return fields
        since = generation - run.last_discovery
        earlier = [r.best_score for r in run.history[-config.discovery_plateau:]]
        plateau = len(earlier) == config.discovery_plateau and stats.best_score <= earlier[0]
        if since >= config.discovery_interval or (plateau and since >= config.discovery_plateau):
            best = run.best
            if best is not None:
                run.last_discovery = generation
                run.discovery = DiscoveryJob(self.discover, run, best, generation)
        return fields

    def _validate(self, run: Run) -> None:
        """Score the generation's best few on the validation dataset; keep the lowest error."""
        config, validation = run.config, run.validation
        with run.cond:
            candidates = validation.candidates(run.evolution.ranked())
        errors, _ = self.evaluate(validation.dataset, candidates, cost=config.cost_name,
                                  cost_of_growth=config.cost_of_growth, sample_rate=1.0,
                                  feedback_loop=config.feedback_loop, batch_size=config.evaluation_batch_size)
        activate = None
        if self.activate is not None:
            def activate(creature, X):
                return self.activate(creature, X, feedback_loop=config.feedback_loop)
        with run.cond:
            validation.offer(candidates, errors, activate)

    def _fail(self, run: Run, message: str) -> None:
        with run.cond:
            if not run.halted:
                self._finish(run, RunState.FAILED, message + " (ResumeRun continues it from its last generation)")

    def _finish(self, run: Run, state: RunState, message: str) -> None:
        """Record a terminal state (caller holds run.cond)."""
        run.state = state
        run.message = message
        run.cond.notify_all()
        try:
            if state is RunState.FAILED and run.saved is not None:
                if self.checkpoints:  # on top of the last completed generation, which ResumeRun continues from
                    self.checkpoints.save(run.id, {**run.saved, "state": state.name, "message": message})
            else:
                self._save(run)
        except OSError as e:  # e.g. the disk filled up: the run still ends, on disk it stays resumable
            log.error("run %s: cannot checkpoint its end (%s): %s", run.id, state.name, e)

    def _save(self, run: Run) -> None:
        """Checkpoint the run as it stands (caller holds run.cond); kept as `run.saved`."""
        checkpoint = {
            "version": CHECKPOINT_VERSION,
            "run_id": run.id,
            "config": run.config.to_dict(),
            "dataset_id": run.dataset.id if run.dataset is not None else None,
            "state": RunState.RUNNING.name if run.state is RunState.PAUSED else run.state.name,
            "message": "" if run.state is RunState.PAUSED else run.message,
            "evolution": run.evolution.state_dict(),
            "history_length": len(run.history),
            "validation": None if run.validation is None else {
                "dataset_id": run.validation.dataset.id, **run.validation.state_dict()},
        }
        run.saved = checkpoint
        if self.checkpoints:
            self.checkpoints.save(run.id, checkpoint)


def shape_problems(creatures: Sequence[Creature], inputs: int, outputs: int, prefix: str,
                   feedback_loop: bool) -> list[Problem]:
    """Creatures must have the run's numbers of inputs and outputs, and be forward-only unless
    the run carries recurrent state (feedbackLoop)."""
    problems = []
    for i, c in enumerate(creatures):
        if c.recurrent and not feedback_loop:
            problems.append(Problem(f"{prefix}[{i}].synapses", "recurrent creature in a run without feedbackLoop"))
        if c.input != inputs:
            problems.append(Problem(f"{prefix}[{i}].input", f"is {c.input}, the run's creatures have {inputs} inputs"))
        if c.output != outputs:
            problems.append(Problem(f"{prefix}[{i}].output", f"is {c.output}, the run's creatures have {outputs} outputs"))
    return problems


def _report(run_id: str, stats, state: RunState, phases: dict, wall: float,
            validation: Validation | None, memetic: dict) -> GenerationReport:
    held_out = {}
    if validation is not None and validation.best is not None:
        held_out = {"validation_error": validation.error, "validation_accuracy": validation.accuracy,
                    "validation_r2": validation.r2}
    return GenerationReport(
        run_id=run_id, generation=stats.generation, state=state, best_score=stats.best_score,
        best_error=stats.best_error, mean_score=stats.mean_score, mean_error=stats.mean_error,
        species=stats.species, evaluations=stats.evaluations, hidden_neurons=stats.hidden_neurons,
        synapses=stats.synapses, phase_seconds=phases, wall_seconds=wall, **held_out, **memetic)
