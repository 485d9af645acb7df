"""A thread-safe LRU cache with the statistics NEAT-AI reports for every cache.

Used for compiled networks and topology templates (evaluator), datasets (bounded by bytes), and
genetic distances (evolver). `stats()` has NEAT-AI's fields: hits, misses, evictions,
currentSize, maxSize. Capacity can be lowered at run time (memory pressure) and restored.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Iterable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    name: str
    hits: int
    misses: int
    evictions: int
    current_size: int
    max_size: int


class LRUCache(Generic[K, V]):
    """LRU keyed by `K`. `max_size` counts entries, or bytes when `sizeof` is given."""

    def __init__(self, name: str, max_size: int, sizeof: Callable[[V], int] | None = None):
        if max_size < 1:
            raise ValueError(f"{name}: max_size must be >= 1, got {max_size}")
        self.name = name
        self._max = max_size
        self._sizeof = sizeof
        self._data: OrderedDict[K, V] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def get_many(self, keys: list[K]) -> list[V | None]:
        """`get` of every key under one lock acquisition (what a batch looks up)."""
        with self._lock:
            data, out, hits = self._data, [], 0
            for key in keys:
                value = data.get(key)
                if value is not None:
                    data.move_to_end(key)
                    hits += 1
                out.append(value)
            self.hits += hits
            self.misses += len(keys) - hits
            return out

    def peek(self, key: K) -> V | None:
        """Look up without touching the statistics or the recency order."""
        with self._lock:
            return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        self.put_many(((key, value),))

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        """`put` of every (key, value) under one lock acquisition."""
        with self._lock:
            for key, value in items:
                old = self._data.pop(key, None)
                if old is not None:
                    self._size -= self._weight(old)
                self._data[key] = value
                self._size += self._weight(value)
            self._evict_to(self._max)

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    @property
    def max_size(self) -> int:
        return self._max

    @property
    def current_size(self) -> int:
        """Entries, or bytes for a byte-bounded cache."""
        return self._size

    def resize(self, max_size: int) -> None:
        """Change capacity; shrinking evicts the least recently used entries."""
        with self._lock:
            self._max = max(1, int(max_size))
            self._evict_to(self._max)

    def shrink_to(self, fraction: float) -> int:
        """Evict LRU entries until at most `fraction` of capacity is used; returns evictions."""
        with self._lock:
            before = self.evictions
            self._evict_to(int(self._max * fraction))
            return self.evictions - before

    def clear(self) -> None:
        with self._lock:
            self.evictions += len(self._data)
            self._data.clear()
            self._size = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.name, self.hits, self.misses, self.evictions, self._size, self._max)

    def _weight(self, value: V) -> int:
        return self._sizeof(value) if self._sizeof else 1

    def _evict_to(self, limit: int) -> None:
        while self._data and self._size > limit:
            _, value = self._data.popitem(last=False)
            self._size -= self._weight(value)
            self.evictions += 1
