"""What a dataset asks for: classification or regression, and how a run is measured on it.

`infer_task` reads the targets (one-hot columns or one integer class column: classification;
anything else: regression), `encode_classes` turns a class column into the targets a network
learns (one 0/1 column for two classes, one-hot for more), `split` holds part of the records out
(stratified by class, seeded), `Scaling` standardises columns, and `task_metrics` scores outputs
the way the task is judged: accuracy (and per class) or R² and RMSE.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
MAX_CLASSES = 32  # an integer column with more distinct values is a quantity, not a label
MIN_SPLIT_RECORDS = 10  # fewer records are evaluated whole: a held-out part would be noise


def is_one_hot(Y: np.ndarray) -> bool:
    return Y.shape[1] >= 2 and bool(np.isin(Y, (0.0, 1.0)).all()) and bool((Y.sum(axis=1) == 1).all())


def class_values(y: np.ndarray) -> np.ndarray | None:
    """The sorted distinct labels of a class column, or None when it does not look like one."""
    values = np.unique(y)
    if 2 <= len(values) <= MAX_CLASSES and np.array_equal(values, np.round(values)):
        return values
    return None


def infer_task(Y: np.ndarray) -> str:
    if is_one_hot(Y) or (Y.shape[1] == 1 and class_values(Y[:, 0]) is not None):
        return CLASSIFICATION
    return REGRESSION


def class_index(Y: np.ndarray) -> np.ndarray:
    """The class of each record of learned classification targets (one 0/1 column or one-hot)."""
    return (Y[:, 0] > 0.5).astype(np.int64) if Y.shape[1] == 1 else Y.argmax(axis=1)


@dataclass(frozen=True)
class ClassEncoding:
    """How a class column maps to network outputs: `labels[k]` is class k."""

    column: str
    labels: tuple[float, ...]

    @property
    def outputs(self) -> int:
        return 1 if len(self.labels) == 2 else len(self.labels)

    @property
    def names(self) -> tuple[str, ...]:
        shown = [_label(v) for v in self.labels]
        return (f"{self.column}={shown[1]}",) if self.outputs == 1 else tuple(f"{self.column}={v}" for v in shown)

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Targets float32[n, outputs]; ValueError names a label this encoding does not know."""
        index = np.searchsorted(self.labels, y)
        known = (index < len(self.labels)) & (np.asarray(self.labels)[np.minimum(index, len(self.labels) - 1)] == y)
        if not known.all():
            raise ValueError(f"column {self.column!r} holds label {_label(y[~known][0])}, "
                             f"unknown to the classes {', '.join(_label(v) for v in self.labels)}")
        if self.outputs == 1:
            return index.reshape(-1, 1).astype(np.float32)
        return np.eye(self.outputs, dtype=np.float32)[index]

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(self.labels)[class_index(outputs)]


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def split(records: int, fraction: float, seed: int, strata: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray] | None:
    """(train, held-out) record indices, each sorted; None when there are too few records to
    hold any out. With `strata` (a class per record) every class is held out in proportion."""
    if not 0 < fraction < 1 or records < MIN_SPLIT_RECORDS:
        return None
    rng = np.random.default_rng(seed)
    groups = [np.arange(records)] if strata is None else [np.flatnonzero(strata == c) for c in np.unique(strata)]
    held = []
    for members in groups:
        k = int(round(fraction * len(members)))
        if len(members) >= 2:  # a class of one stays in training
            held.append(rng.permutation(members)[:max(1, min(k, len(members) - 1))])
    held_out = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    if len(held_out) == 0 or len(held_out) == records:
        return None
    return np.setdiff1d(np.arange(records), held_out), held_out


@dataclass(frozen=True)
class Scaling:
    """Per-column standardisation z = (x - mean) / std; constant columns keep std 1."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, a: np.ndarray) -> Scaling:
        a = np.asarray(a, dtype=np.float64)
        std = a.std(axis=0)
        return cls(a.mean(axis=0), np.where(std > 1e-8, std, 1.0))

    @classmethod
    def identity(cls, columns: int) -> Scaling:
        return cls(np.zeros(columns), np.ones(columns))

    def apply(self, a: np.ndarray) -> np.ndarray:
        return ((np.asarray(a, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def invert(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype=np.float64) * self.std + self.mean).astype(np.float32)


def task_metrics(task: str, outputs: np.ndarray, Y: np.ndarray) -> dict:
    """Classification: accuracy and per-class accuracy (recall) by class index; regression: R²
    (mean over outputs, 0 for a constant target predicted exactly) and RMSE in the targets' units."""
    outputs, Y = np.asarray(outputs, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if task == CLASSIFICATION:
        predicted, truth = class_index(outputs), class_index(Y)
        classes = max(2, Y.shape[1])
        per_class = [float((predicted[truth == k] == k).mean()) if (truth == k).any() else None
                     for k in range(classes)]
        return {"accuracy": float((predicted == truth).mean()), "per_class_accuracy": per_class}
    residual = ((Y - outputs) ** 2).sum(axis=0)
    total = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), np.where(residual > 0, 0.0, 1.0))
    return {"r2": float(r2.mean()), "rmse": float(np.sqrt(((Y - outputs) ** 2).mean()))}
