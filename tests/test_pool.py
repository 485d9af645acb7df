"""Work-stealing pool: idle workers steal queued work, statistics stay consistent, results and
exceptions reach the caller's futures, and the memory-based thread cap."""
from __future__ import annotations

import threading
import time

import pytest

from neatai.pool import PoolStats, WorkStealingPool, effective_threads


def test_map_returns_results_in_order():
    with WorkStealingPool("p", 3) as pool:
        assert pool.map(lambda x: x * x, range(20)) == [x * x for x in range(20)]


def test_idle_workers_steal_from_a_loaded_worker():
    release = threading.Event()
    ran_on: list[str] = []
    lock = threading.Lock()

    def task(i):
        if i == 0:
            release.wait(5)
        with lock:
            ran_on.append(threading.current_thread().name)
        time.sleep(0.002)
        return i

    with WorkStealingPool("p", 4) as pool:
        # All tasks go to worker 0; worker 0 blocks on the first, the others must steal the rest.
        futures = [pool.submit(task, i, affinity=0) for i in range(20)]
        deadline = time.monotonic() + 5
        while sum(f.done() for f in futures) < 19 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert sum(f.done() for f in futures) == 19
        release.set()
        assert [f.result(5) for f in futures] == list(range(20))
        stats = pool.stats()
    assert stats.successful_steals >= 19
    assert stats.steal_attempts >= stats.successful_steals
    assert 0 < stats.steal_success_rate <= 1
    assert {"p-1", "p-2", "p-3"} <= set(ran_on)


def test_stats_count_busy_idle_and_queued():
    gate = threading.Event()
    started = threading.Barrier(3)

    def block():
        started.wait(5)
        gate.wait(5)

    pool = WorkStealingPool("s", 2)
    try:
        futures = [pool.submit(block) for _ in range(2)]
        started.wait(5)
        queued = [pool.submit(lambda: 1) for _ in range(3)]
        stats = pool.stats()
        assert stats == PoolStats("s", 2, 2, 0, 3, stats.steal_attempts, stats.successful_steals)
        gate.set()
        for f in futures + queued:
            f.result(5)
        deadline = time.monotonic() + 5
        while pool.stats().busy_workers and time.monotonic() < deadline:
            time.sleep(0.001)
        stats = pool.stats()
        assert (stats.busy_workers, stats.idle_workers, stats.total_queued_tasks) == (0, 2, 0)
    finally:
        pool.shutdown()


def test_exceptions_reach_the_future_and_the_worker_survives():
    def boom():
        raise ValueError("bad creature")

    with WorkStealingPool("e", 1) as pool:
        with pytest.raises(ValueError, match="bad creature"):
            pool.submit(boom).result(5)
        assert pool.submit(lambda: 42).result(5) == 42
        with pytest.raises(ZeroDivisionError):
            pool.map(lambda x: 1 / 0 if x == 3 else x, range(5))


def test_worker_contexts_are_passed_first():
    with WorkStealingPool("c", ["endpoint-a", "endpoint-b"]) as pool:
        assert pool.submit(lambda ctx, x: (ctx, x), 7, affinity=1).result(5)[1] == 7
        seen = {pool.submit(lambda ctx: ctx, affinity=i).result(5) for i in range(2)}
    assert seen <= {"endpoint-a", "endpoint-b"}


def test_shutdown_runs_queued_tasks_or_cancels_them():
    pool = WorkStealingPool("d", 1)
    gate = threading.Event()
    first = pool.submit(gate.wait, 5)
    rest = [pool.submit(lambda: 1) for _ in range(3)]
    threading.Timer(0.05, gate.set).start()
    pool.shutdown(wait=True)
    assert first.result() is True and [f.result() for f in rest] == [1, 1, 1]
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(lambda: 1)

    pool = WorkStealingPool("d", 1)
    gate = threading.Event()
    pool.submit(gate.wait, 5)
    pending = pool.submit(lambda: 1)
    pool.shutdown(wait=False, cancel_pending=True)
    gate.set()
    pool.shutdown(wait=True)
    assert pending.cancelled()


def test_invalid_sizes():
    with pytest.raises(ValueError):
        WorkStealingPool("z", 0)
    with pytest.raises(ValueError):
        WorkStealingPool("z", [])


@pytest.mark.parametrize("threads, max_mb, per_worker_mb, expected", [
    (8, 0, 2048, 8),          # cap disabled
    (32, 56000, 2048, 27),    # seed 000 example
    (4, 56000, 2048, 4),      # cap above the thread count
    (8, 1000, 2048, 1),       # never below one
    (0, 0, 2048, 1),
])
def test_effective_threads(threads, max_mb, per_worker_mb, expected):
    assert effective_threads(threads, max_mb, per_worker_mb) == expected
