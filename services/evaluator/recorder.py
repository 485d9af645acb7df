"""Recording a creature's activations on a sample of a dataset to Parquet (the `Record` RPC's
work, reference/discovery.md §1): choose the records, run the recording kernel a flush-sized
block at a time, stream the blocks to the writer, stop at the deadline."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.recording import (FLUSH_BYTES, FLUSH_RECORDS, MIN_FREE_BYTES, RecordingDirectory, RecordingWriter,
                              choose_records, sweep_orphans)

from neatai import predictive_coding_options as pc_options

from . import predictive_coding
from .network import trainable_network
from .recording import record_activations

DEFAULT_TIMEOUT_S = 5 * 60   # discoveryRecordTimeOutMinutes
MAX_TIMEOUT_S = 60 * 60


def default_recording_dir() -> str:
    return os.environ.get("NEATAI_RECORDING_DIR") or os.path.join(tempfile.gettempdir(), "neatai-discovery")


class RecordingStopped(RuntimeError):
    """The caller went away (cancelled); nothing was kept."""


@dataclass(frozen=True)
class RecordOutcome:
    path: Path                 # the Parquet file
    directory: Path            # its recording folder (indices, creature)
    bytes: int
    observations: int
    rows: int
    selected_indices_path: Path
    seconds: float
    timed_out: bool            # the deadline stopped it: fewer observations than sampled


def record(creature: Creature, dataset: Dataset, dataset_id: str, base: str | os.PathLike,
           sample_rate: float, seed: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
           stop: Callable[[], bool] = lambda: False, flush_records: int = FLUSH_RECORDS,
           flush_bytes: int = FLUSH_BYTES, min_free_bytes: int = MIN_FREE_BYTES,
           predictive_coding_options: dict | None = None) -> RecordOutcome:
    """Record `creature` on ceil(records · sample_rate) records of `dataset` into a new folder
    under `base` (orphans there are swept first). With a predictiveCoding option that is enabled,
    every block is also settled (outputs clamped to the targets) and the neurons' prediction
    errors go in the pc_error column. Raises RecordingStopped when `stop()` turns true,
    DiskSpaceError when the disk is short; either way the folder is removed."""
    pc = pc_options.resolved(predictive_coding_options)
    start = time.monotonic()
    deadline = start + timeout_s
    sweep_orphans(base)
    rows = choose_records(dataset.records, sample_rate, seed)
    network = trainable_network(creature)
    folder = RecordingDirectory(base)
    writer = None
    try:
        indices = folder.save_indices(dataset_id, rows)
        folder.save_creature(creature.to_json())
        writer = RecordingWriter(folder.data, network.names[creature.input:], creature.input, creature.output,
                                 flush_records, flush_bytes, min_free_bytes, prediction_errors=pc["enabled"])
        X, Y = dataset.X, dataset.Y
        timed_out = False
        for at in range(0, len(rows), writer.block):
            if stop():
                raise RecordingStopped("the Record call was cancelled")
            if time.monotonic() > deadline:
                timed_out = True
                break
            block = rows[at:at + writer.block]
            values, activations, errors = record_activations(network, X, Y, block)
            predicted = None
            if pc["enabled"]:
                settled = predictive_coding.settle(creature, X[block], Y[block], network=network,
                                                   **predictive_coding.settle_options(pc))
                predicted = settled.errors[:, creature.input:].astype(np.float32)
            writer.append(values, activations, errors, X[block], predicted)
        path = writer.finish()
        observations, row_count = writer.observations, writer.observations * (len(network.names))
        writer = None
        folder.unlock()
    except BaseException:
        if writer is not None:
            writer.abort()
        folder.remove()
        raise
    return RecordOutcome(path=path, directory=folder.path, bytes=path.stat().st_size,
                         observations=observations, rows=row_count,
                         selected_indices_path=indices, seconds=time.monotonic() - start, timed_out=timed_out)



def inside(base: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """`path` resolved, when it lies inside `base` (a recording of this evaluator); else None."""
    root, target = Path(base).resolve(), Path(path).resolve()
    return target if target != root and root in target.parents else None


def read_chunks(path: Path, chunk_bytes: int):
    """(offset, data) of the file, chunk by chunk."""
    with open(path, "rb") as f:
        offset = 0
        while data := f.read(chunk_bytes):
            yield offset, data
            offset += len(data)


def delete(folder: Path) -> None:
    shutil.rmtree(folder)
