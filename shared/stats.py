"""The statistics dataclasses (`CacheStats`, `PoolStats`, `MemoryStats`) as `neatai.v1`
messages: every field the message declares is read from the attribute of the same name."""
from __future__ import annotations

from typing import TypeVar

from .lru import CacheStats
from .memory import MemoryStats
from .pool import PoolStats
from .v1 import stats_pb2

M = TypeVar("M")


def to_message(stats: object, message_type: type[M]) -> M:
    """`message_type` filled from `stats`' attributes named as its fields."""
    return message_type(**{f.name: getattr(stats, f.name) for f in message_type.DESCRIPTOR.fields})


def cache_pb(c: CacheStats) -> stats_pb2.CacheStats:
    return to_message(c, stats_pb2.CacheStats)


def pool_pb(p: PoolStats) -> stats_pb2.PoolStats:
    return to_message(p, stats_pb2.PoolStats)


def memory_pb(m: MemoryStats) -> stats_pb2.MemoryStats:
    return to_message(m, stats_pb2.MemoryStats)
