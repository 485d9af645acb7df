"""A work-stealing pool of threads (NEAT-AI's worker pool), with the statistics NEAT-AI reports.

Each worker owns a deque. `submit` appends to the affinity worker's deque, or round-robin.
A worker takes its own tasks oldest first (FIFO, so results come back roughly in submission
order); when its deque is empty it steals the newest task from the longest other deque (the
work its owner would reach last). Every look at the other deques counts as a steal attempt.

Workers may carry a context (e.g. an evaluator endpoint): `fn(context, *args)` is then called.
The evaluator's kernels release the GIL, so threads run them in parallel.
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

_NO_CONTEXT = object()


@dataclass(frozen=True)
class PoolStats:
    name: str
    total_workers: int
    busy_workers: int
    idle_workers: int
    total_queued_tasks: int
    steal_attempts: int
    successful_steals: int

    @property
    def steal_success_rate(self) -> float:
        return self.successful_steals / self.steal_attempts if self.steal_attempts else 0.0


def effective_threads(threads: int, max_memory_mb: float = 0, estimated_memory_per_worker_mb: float = 2048) -> int:
    """NEAT-AI `workerThreadCap`: min(threads, floor(max / per-worker)) when a budget is set; >= 1."""
    threads = max(1, int(threads))
    if max_memory_mb and max_memory_mb > 0 and estimated_memory_per_worker_mb > 0:
        threads = min(threads, int(max_memory_mb // estimated_memory_per_worker_mb))
    return max(1, threads)


class _Task:
    __slots__ = ("fn", "args", "future")

    def __init__(self, fn, args, future):
        self.fn, self.args, self.future = fn, args, future


class WorkStealingPool:
    def __init__(self, name: str, workers: int | Sequence[Any]):
        if isinstance(workers, int):
            if workers < 1:
                raise ValueError(f"{name}: need at least one worker, got {workers}")
            contexts: list[Any] = [_NO_CONTEXT] * workers
        else:
            contexts = list(workers)
            if not contexts:
                raise ValueError(f"{name}: need at least one worker context")
        self.name = name
        self.contexts = contexts
        self._queues: list[deque[_Task]] = [deque() for _ in contexts]
        self._cond = threading.Condition()
        self._busy = 0
        self._next = 0
        self._closed = False
        self.steal_attempts = 0
        self.successful_steals = 0
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"{name}-{i}", daemon=True) for i in range(len(contexts))
        ]
        for t in self._threads:
            t.start()

    @property
    def size(self) -> int:
        return len(self._queues)

    def submit(self, fn: Callable[..., Any], *args: Any, affinity: int | None = None) -> Future:
        """Queue `fn(*args)` (or `fn(context, *args)`) on worker `affinity` or the next in turn."""
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"pool {self.name} is shut down")
            if affinity is None:
                index = self._next
                self._next = (self._next + 1) % len(self._queues)
            else:
                index = affinity % len(self._queues)
            self._queues[index].append(_Task(fn, args, future))
            self._cond.notify_all()
        return future

    def map(self, fn: Callable[..., Any], items: Iterable[Any], timeout: float | None = None) -> list[Any]:
        """Results of `fn(item)` in input order; the first exception is raised."""
        futures = [self.submit(fn, item) for item in items]
        return [f.result(timeout) for f in futures]

    def stats(self) -> PoolStats:
        with self._cond:
            n = len(self._queues)
            return PoolStats(self.name, n, self._busy, n - self._busy, sum(len(q) for q in self._queues),
                             self.steal_attempts, self.successful_steals)

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Stop accepting tasks; queued tasks still run unless `cancel_pending`."""
        with self._cond:
            self._closed = True
            if cancel_pending:
                for q in self._queues:
                    while q:
                        q.popleft().future.cancel()
            self._cond.notify_all()
        if wait:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join()

    def __enter__(self) -> WorkStealingPool:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown(wait=True)

    def _take(self, index: int) -> _Task | None:
        """Own task first, else a stolen one; None when there is nothing (caller holds the lock)."""
        own = self._queues[index]
        if own:
            return own.popleft()
        others = [q for i, q in enumerate(self._queues) if i != index]
        if not others:
            return None
        self.steal_attempts += 1
        victim = max(others, key=len)
        if victim:
            self.successful_steals += 1
            return victim.pop()
        return None

    def _run(self, index: int) -> None:
        context = self.contexts[index]
        while True:
            with self._cond:
                task = self._take(index)
                while task is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    task = self._take(index)
                self._busy += 1
            try:
                if task.future.set_running_or_notify_cancel():
                    try:
                        args = task.args if context is _NO_CONTEXT else (context, *task.args)
                        result = task.fn(*args)
                    except BaseException as e:  # delivered to the caller through the future
                        task.future.set_exception(e)
                    else:
                        task.future.set_result(result)
            finally:
                with self._cond:
                    self._busy -= 1
