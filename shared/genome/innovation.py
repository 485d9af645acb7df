"""Innovation numbers: one per (fromUUID, toUUID) per run, so genes of different creatures align.

Neurons keep their UUIDs through mutation and crossover, so the same synapse in two creatures
has the same endpoints and gets the same number; numbers grow in order of first appearance,
which is what tells excess genes (beyond the other genome's newest) from disjoint ones.
"""
from __future__ import annotations


class InnovationTracker:
    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str], int] = {}

    @property
    def numbers(self) -> dict[tuple[str, str], int]:
        """The numbers assigned so far (read-only use: a miss must go through `number`)."""
        return self._numbers

    def number(self, from_uuid: str, to_uuid: str) -> int:
        key = (from_uuid, to_uuid)
        n = self._numbers.get(key)
        if n is None:
            n = self._numbers[key] = len(self._numbers)
        return n

    def __len__(self) -> int:
        return len(self._numbers)

    def state_dict(self) -> dict:
        """JSON-serialisable; numbers are implied by the order of `pairs`."""
        return {"pairs": [list(k) for k in self._numbers]}

    @classmethod
    def from_state(cls, state: dict) -> InnovationTracker:
        tracker = cls()
        for a, b in state["pairs"]:
            tracker.number(a, b)
        return tracker
