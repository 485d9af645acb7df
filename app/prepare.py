"""What `neatai run` does to a dataset before evolving on it, each choice printed and overridable.

The task is inferred from the targets (one-hot or one integer class column: classification; a
class column is encoded as one 0/1 output for two classes, one-hot for more), and picks the
cost and output squash as NEAT-AI's `creatureForDataset` does (reference/neat-ai.md §2.3):
CROSS_ENTROPY with LOGISTIC (one output) or SOFTMAX outputs for classification, MSE with an
IDENTITY output for regression. A seeded part of the records (stratified by class) is held out
for validation. Inputs, and regression targets, are standardised on the training part; the
exported creature has the scaling folded in (`neatai.genome.scaling`). The built-in `xor` stays
the classic benchmark: MSE (its solved bar is MSE <= 0.025), evolved output squash, raw inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neatai.datasets import Dataset
from neatai.tasks import (
    CLASSIFICATION, REGRESSION, ClassEncoding, Scaling, class_index, class_values, infer_task, is_one_hot, split,
)


class PrepareError(ValueError):
    """The data cannot be used as asked; the message says why."""


@dataclass
class Part:
    """Raw inputs and encoded (unstandardised) targets of some records."""

    X: np.ndarray
    Y: np.ndarray

    @property
    def records(self) -> int:
        return len(self.X)


@dataclass
class Prepared:
    task: str
    cost: str
    output_squash: str | None
    initial_weights: str
    train: Part
    validation: Part | None  # None: too few records to hold any out, evaluated whole
    encoding: ClassEncoding | None
    input_scaling: Scaling | None
    target_scaling: Scaling | None
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    name: str
    choices: list[str] = field(default_factory=list)

    def dataset(self, part: Part) -> Dataset:
        """A part as evolution sees it: standardised where the run standardises."""
        X = self.input_scaling.apply(part.X) if self.input_scaling else part.X
        Y = self.target_scaling.apply(part.Y) if self.target_scaling else part.Y
        return Dataset(X, Y, self.feature_names, self.target_names, self.name)

    def encode(self, dataset: Dataset, where: str) -> Part:
        """Another file's records (`--test`) as this run's targets; PrepareError when its columns differ."""
        if dataset.inputs != len(self.feature_names) or (
                self.encoding is None and dataset.outputs != len(self.target_names)):
            raise PrepareError(f"{where}: {dataset.inputs} inputs/{dataset.outputs} targets, the run's data has "
                               f"{len(self.feature_names)}/{self.train.Y.shape[1] if self.encoding is None else 1}")
        if dataset.feature_names and self.feature_names and dataset.feature_names != self.feature_names:
            raise PrepareError(f"{where}: input columns {list(dataset.feature_names)} differ from the run's "
                               f"{list(self.feature_names)}")
        if self.encoding is None:
            return Part(dataset.X, dataset.Y)
        try:
            return Part(dataset.X, self.encoding.encode(dataset.Y[:, 0]))
        except ValueError as e:
            raise PrepareError(f"{where}: {e}") from None


def prepare(dataset: Dataset, *, task: str | None, cost: str | None, output_squash: str | None,
            initial_weights: str | None, standardise: bool | None, validation_fraction: float,
            seed: int) -> Prepared:
    classic = dataset.name == "xor" and dataset.records == 4
    inferred = infer_task(dataset.Y)
    task = task or inferred
    choices = [f"task: {task} ({'given' if task != inferred else 'inferred from the targets'})"]
    encoding = None
    Y = dataset.Y
    target_names = dataset.target_names or tuple(f"target-{k}" for k in range(dataset.outputs))
    if task == CLASSIFICATION and not is_one_hot(Y):
        labels = class_values(Y[:, 0]) if Y.shape[1] == 1 else None
        if labels is None:
            raise PrepareError("classification needs one-hot target columns or one integer class column "
                               f"(2 to 32 distinct values); the targets {list(target_names)} are neither")
        encoding = ClassEncoding(target_names[0], tuple(float(v) for v in labels))
        if not (classic and encoding.outputs == 1):
            Y = encoding.encode(Y[:, 0])
            target_names = encoding.names
            choices.append(f"classes: {len(labels)} in column {encoding.column!r}, encoded as "
                           + ("one 0/1 output" if encoding.outputs == 1 else f"{encoding.outputs} one-hot outputs"))
        else:
            encoding = None  # xor's 0/1 column already is the target
    outputs = Y.shape[1]
    classes = class_index(Y) if task == CLASSIFICATION else None
    if classic:
        default_cost, default_squash, default_weights, default_standardise = "MSE", None, "neat-ai", False
        why = "xor's classic setup: its solved bar is MSE <= 0.025"
    elif task == CLASSIFICATION:
        default_cost, default_squash = "CROSS_ENTROPY", "LOGISTIC" if outputs == 1 else "SOFTMAX"
        default_weights, default_standardise = "symmetric", True
        why = "classification"
    else:
        default_cost, default_squash, default_weights, default_standardise = "MSE", "IDENTITY", "symmetric", True
        why = "regression"
    cost = _choose(choices, "cost", cost, default_cost, why)
    output_squash = _choose(choices, "output squash", output_squash, default_squash, why, none="evolved")
    initial_weights = _choose(choices, "initial weights", initial_weights, default_weights, why)
    standardise = default_standardise if standardise is None else standardise
    parts = split(dataset.records, validation_fraction, seed, classes)
    if parts is None:
        train, validation = Part(dataset.X, Y), None
        choices.append(f"validation: none, all {dataset.records} records are evaluated whole "
                       "(too few to hold any out)" if validation_fraction > 0 else "validation: none (fraction 0)")
    else:
        t, v = parts
        train, validation = Part(dataset.X[t], Y[t]), Part(dataset.X[v], Y[v])
        choices.append(f"validation: {len(v)} of {dataset.records} records held out (fraction {validation_fraction:g}"
                       f"{', stratified by class' if classes is not None else ''}, seed {seed})")
    input_scaling = target_scaling = None
    if standardise:
        input_scaling = Scaling.fit(train.X)
        if task == REGRESSION:
            target_scaling = Scaling.fit(train.Y)
        choices.append("standardise: inputs" + (" and targets" if target_scaling else "")
                       + " on the training part, folded into best.json (it takes raw inputs, gives raw outputs)")
    else:
        choices.append("standardise: no")
    return Prepared(task, cost, output_squash, initial_weights, train, validation, encoding, input_scaling,
                    target_scaling, dataset.feature_names or tuple(f"input-{i}" for i in range(dataset.inputs)),
                    target_names, dataset.name, choices)


def _choose(choices: list[str], label: str, given, default, why: str, none: str = "") -> str | None:
    value = default if given is None else given
    shown = value if value is not None else none
    choices.append(f"{label}: {shown} ({'given' if given is not None else why})")
    return value
