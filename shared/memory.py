"""Memory monitor (NEAT-AI `memory`): watches this process's resident memory against a budget
and gives memory back from registered LRU caches before the container is OOM-killed.

Levels: below `warning` (0.70 of the budget) nothing happens; from `warning` every registered
cache is shrunk to `shrink_fraction` of its capacity (oldest entries first); from `critical`
(0.85) every cache is cleared. Actions repeat on every check while the level holds; an *event*
is counted when the level is entered from a lower one.
"""
from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .lru import LRUCache

log = logging.getLogger(__name__)

NORMAL, WARNING, CRITICAL = "normal", "warning", "critical"
_RANK = {NORMAL: 0, WARNING: 1, CRITICAL: 2}
_UNLIMITED_CGROUP_V1 = 1 << 60  # v1 reports "no limit" as a huge page-rounded number


@dataclass(frozen=True)
class MemoryStats:
    resident_bytes: int
    budget_bytes: int
    warning_events: int
    critical_events: int
    level: str


def container_memory_limit(root: str | Path = "/sys/fs/cgroup") -> int | None:
    """The cgroup (v2, else v1) memory limit in bytes, or None when unlimited or unknown."""
    root = Path(root)
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _UNLIMITED_CGROUP_V1 else None
    return None


def default_budget() -> int:
    """The container's memory limit, else the machine's total RAM."""
    import psutil

    return container_memory_limit() or psutil.virtual_memory().total


def process_rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class MemoryMonitor:
    def __init__(self, budget_bytes: int | None = None, warning: float = 0.70, critical: float = 0.85,
                 interval_s: float = 1.0, shrink_fraction: float = 0.5,
                 rss_reader: Callable[[], int] = process_rss):
        if not 0 < warning < critical <= 1:
            raise ValueError(f"thresholds must satisfy 0 < warning < critical <= 1, got {warning}, {critical}")
        self.budget_bytes = int(budget_bytes) if budget_bytes else default_budget()
        self.warning, self.critical = warning, critical
        self.interval_s = interval_s
        self.shrink_fraction = shrink_fraction
        self._rss = rss_reader
        self._sources: list[Callable[[], Iterable[LRUCache]]] = []
        self._lock = threading.Lock()
        self.level = NORMAL
        self.resident_bytes = 0
        self.warning_events = self.critical_events = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, caches: Iterable[LRUCache] | Callable[[], Iterable[LRUCache]]) -> None:
        """Caches to relieve under pressure: a list, or a callable returning the current ones."""
        self._sources.append(caches if callable(caches) else (lambda cs=list(caches): cs))

    def caches(self) -> list[LRUCache]:
        return [c for source in self._sources for c in source()]

    def check(self) -> str:
        """Measure once and act; returns the level."""
        with self._lock:
            rss = int(self._rss())
            self.resident_bytes = rss
            fraction = rss / self.budget_bytes
            level = CRITICAL if fraction >= self.critical else WARNING if fraction >= self.warning else NORMAL
            if _RANK[level] > _RANK[self.level]:
                if level == CRITICAL:
                    self.critical_events += 1
                else:
                    self.warning_events += 1
                log.warning("memory %s: resident %d MiB of %d MiB budget (%.0f%%)", level, rss >> 20,
                            self.budget_bytes >> 20, 100 * fraction)
            self.level = level
        if level == CRITICAL:
            for cache in self.caches():
                cache.clear()
            gc.collect()
        elif level == WARNING:
            for cache in self.caches():
                cache.shrink_to(self.shrink_fraction)
        return level

    def stats(self) -> MemoryStats:
        return MemoryStats(self.resident_bytes, self.budget_bytes, self.warning_events, self.critical_events, self.level)

    def start(self) -> MemoryMonitor:
        if self._thread is None:
            self.check()
            self._thread = threading.Thread(target=self._loop, name="memory-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # a failed reading must not kill the monitor
                log.exception("memory check failed")
