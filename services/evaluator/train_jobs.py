"""Training many creatures at once on the evaluator's worker pool (what the Train RPCs run).

One pool task per creature: a training is tens to thousands of kernel calls, so a creature is
already worth a task of its own, and idle workers steal the rest of a slow batch. Each task
reports its passes and its result through one queue, in the order they happen, which is what
a streamed call forwards; a unary call just waits for every result.

Stopping is cooperative: `train` asks `stop()` before every batch, and a job is stopped when
it is cancelled or when the caller's own `stop` answers true (the RPC's deadline passed or its
client went away), so a cancelled job frees the pool within one kernel call per worker.

Seeds: with options["seed"] set, each creature is trained from (seed, its structural hash), so
a creature's training depends on neither its position in the request nor how a population was
split into requests (the evolver relies on this for reproducible runs).
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from neatai.creature import Creature
from neatai.pool import WorkStealingPool

from .training import TrainingStopped, train


@dataclass(frozen=True)
class TrainProgress:
    index: int       # the creature's position in the job
    iterations: int  # passes completed
    error: float     # the dataset error after that pass


@dataclass(frozen=True)
class TrainOutcome:
    index: int
    creature: Creature  # the trained copy; the creature as given when nothing improved it
    error_before: float
    error_after: float
    iterations: int
    learning_rate_strategy: str
    seconds: float


@dataclass(frozen=True)
class TrainingStats:
    """Totals since the evaluator started (the neatai_training_* counters)."""
    creatures: int = 0
    improved: int = 0   # error_after < error_before
    passes: int = 0
    seconds: float = 0.0
    stopped_jobs: int = 0


class TrainingCounters:
    def __init__(self):
        self._lock = threading.Lock()
        self._stats = TrainingStats()

    def add(self, outcome: TrainOutcome) -> None:
        with self._lock:
            s = self._stats
            self._stats = TrainingStats(s.creatures + 1, s.improved + (outcome.error_after < outcome.error_before),
                                        s.passes + outcome.iterations, s.seconds + outcome.seconds, s.stopped_jobs)

    def stopped(self) -> None:
        with self._lock:
            s = self._stats
            self._stats = TrainingStats(s.creatures, s.improved, s.passes, s.seconds, s.stopped_jobs + 1)

    def stats(self) -> TrainingStats:
        with self._lock:
            return self._stats


def creature_seed(seed: int, creature: Creature) -> int:
    """The seed a creature trains from: (seed, its structural hash) mixed into 64 bits."""
    entropy = [int(seed), int(creature.structural_hash(), 16)]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


_DONE = object()


class TrainingJob:
    """Creatures being trained; iterate `events()` or call `results()` exactly once."""

    def __init__(self, pool: WorkStealingPool, creatures: Sequence[Creature], X: np.ndarray, Y: np.ndarray,
                 cost: str, feedback_loop: bool, options: dict, counters: TrainingCounters,
                 stop: Callable[[], bool] | None = None, progress: bool = False):
        self._events: queue.Queue = queue.Queue()
        self._cancelled = threading.Event()
        self._stop = stop
        self._counters = counters
        self.size = len(creatures)
        seed = options.get("seed")
        self._futures = []
        for i, creature in enumerate(creatures):
            own = dict(options)
            if seed is not None:
                own["seed"] = creature_seed(seed, creature)
            report = (lambda passes, error, i=i: self._events.put(TrainProgress(i, passes, error))) if progress else None
            self._futures.append(pool.submit(self._train, i, creature, X, Y, cost, feedback_loop, own, report))

    @property
    def stopped(self) -> bool:
        return self._cancelled.is_set() or (self._stop is not None and self._stop())

    def cancel(self) -> None:
        self._cancelled.set()

    def _train(self, index, creature, X, Y, cost, feedback_loop, options, report) -> None:
        try:
            t0 = time.perf_counter()
            r = train(creature, X, Y, cost, feedback_loop, stop=lambda: self.stopped, progress=report, **options)
            outcome = TrainOutcome(index, r.creature, r.error_before, r.error_after, r.iterations,
                                   r.learning_rate_strategy, time.perf_counter() - t0)
            self._counters.add(outcome)
            self._events.put(outcome)
        except BaseException as e:  # noqa: BLE001 — handed to whoever reads the events
            self._events.put(e)
        finally:
            self._events.put(_DONE)

    def events(self) -> Iterator[TrainProgress | TrainOutcome]:
        """Progress and results as they happen. Raises TrainingStopped when the job was stopped
        (or the first error of a task), after every task has ended."""
        done, failure = 0, None
        try:
            while done < self.size:
                event = self._events.get()
                if event is _DONE:
                    done += 1
                elif isinstance(event, BaseException):
                    if failure is None:
                        failure = event
                        self.cancel()  # the job fails as a whole: stop the other tasks
                elif failure is None:
                    yield event
        finally:
            if done < self.size:  # the reader went away (a closed stream): nobody wants the rest
                self.cancel()
        if failure is not None:
            if isinstance(failure, TrainingStopped):
                self._counters.stopped()
            raise failure

    def results(self) -> list[TrainOutcome]:
        """Every result in creature order."""
        out: list[TrainOutcome | None] = [None] * self.size
        for event in self.events():
            if isinstance(event, TrainOutcome):
                out[event.index] = event
        return out
