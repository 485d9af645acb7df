"""A run's held-out part: every generation the best few creatures by training score are scored
on the validation dataset, and the run's best creature is the one with the lowest error there,
so the creature a run hands back is chosen on records evolution never saw.

Re-scoring an elite that was carried over gives the same error, so the pick is the same whether
or not it was seen before: nothing but the pick is kept, and a resumed run picks as the
uninterrupted one would.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.tasks import CLASSIFICATION, REGRESSION, task_metrics

CANDIDATES = 3  # creatures scored on the validation dataset per generation

# (creature, X) -> outputs float32[rows, outputs]: the task's metric needs outputs, not only the error.
Activate = Callable[[Creature, np.ndarray], np.ndarray]


class Validation:
    def __init__(self, dataset: Dataset, task: str, best: Creature | None = None, error: float = math.inf,
                 metrics: dict | None = None):
        self.dataset = dataset
        self.task = task
        self.best = best
        self.error = error
        self.metrics = metrics or {}

    @staticmethod
    def candidates(ranked: Sequence[tuple[Creature, float, float]]) -> list[Creature]:
        """The best CANDIDATES distinct creatures of the last scored generation."""
        out, seen = [], set()
        for creature, _, _ in ranked:
            key = creature.structural_hash()
            if key not in seen:
                seen.add(key)
                out.append(creature)
                if len(out) == CANDIDATES:
                    break
        return out

    def offer(self, creatures: Sequence[Creature], errors: Sequence[float], activate: Activate | None) -> bool:
        """Keep the lowest validation error (the first on ties); whether the pick changed."""
        changed = False
        for creature, error in zip(creatures, errors):
            if math.isfinite(error) and error < self.error:
                self.best, self.error, changed = creature, float(error), True
        if changed and activate is not None:
            outputs = activate(self.best, self.dataset.X)
            figures = task_metrics(self.task, outputs, self.dataset.Y)
            self.metrics = {k: figures[k] for k in ("accuracy", "r2") if k in figures}
        return changed

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy") if self.task == CLASSIFICATION else None

    @property
    def r2(self) -> float | None:
        return self.metrics.get("r2") if self.task == REGRESSION else None

    def state_dict(self) -> dict:
        return {"task": self.task, "best": self.best.to_dict() if self.best else None,
                "error": self.error if math.isfinite(self.error) else None, "metrics": self.metrics}

    @classmethod
    def from_state(cls, dataset: Dataset, state: dict) -> Validation:
        best = Creature.from_json(state["best"]) if state["best"] else None
        error = math.inf if state["error"] is None else float(state["error"])
        return cls(dataset, state["task"], best, error, state["metrics"])
