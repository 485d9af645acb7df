"""Discovery recordings on disk (reference/discovery.md §1.3, §1.4, §9.1): the Parquet schema,
the writer, the recording directory with its lock, and the orphan sweep.

It lives in `neatai` (shared/) because two services use it: the evaluator writes recordings
(it holds the datasets and the recording kernel, so the data never leaves its machine) and
discovery reads them; neither may import the other.

Layout of one recording:

    <base>/<id>/discovery.lock            presence = in use (holds the writer's pid)
    <base>/<id>/selected_indices.json     {"<dataset id>": [sorted record indexes]}
    <base>/<id>/creature.json             the recorded creature (NEAT-AI JSON)
    <base>/<id>/discovery_data.parquet    written as .parquet.tmp, renamed when complete

One row per (observation, neuron): the non-input neurons in creature order, then `input-{i}`
with value = activation = the input and no errors. `obs_index` is a running counter over the
whole recording (never per batch), so observations never collide.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

SCHEMA = pa.schema([
    pa.field("obs_index", pa.uint32(), nullable=False),
    pa.field("neuron_uuid", pa.string()),
    pa.field("value", pa.float32()),
    pa.field("activation", pa.float32()),
    pa.field("errors", pa.list_(pa.field("item", pa.float32(), nullable=False))),
])

# With predictive coding (Record's predictive_coding option) one more column: every neuron's
# prediction error eps = x - mu after settling with the outputs clamped to the targets
# (seed 004 §3.4), null for the input rows.
PC_ERROR = "pc_error"
SCHEMA_PC = SCHEMA.append(pa.field(PC_ERROR, pa.float32()))

FLUSH_RECORDS = 4096            # discoveryRustFlushRecords
FLUSH_BYTES = 50 * 1024 ** 2    # discoveryRustFlushBytes
MIN_FREE_BYTES = 100 * 1000 ** 2  # DiskSpaceMonitor: 100 MB before every flush
DEFAULT_SAMPLE_RATE = 0.2       # discoverySampleRate
LOCK = "discovery.lock"
DATA = "discovery_data.parquet"
INDICES = "selected_indices.json"
CREATURE = "creature.json"
_UUID = re.compile(r"[A-Za-z0-9-]{1,100}")


class RecordingError(RuntimeError):
    """A recording that cannot be written as asked."""


class DiskSpaceError(RecordingError):
    """Too little free disk for the next flush."""


def valid_neuron_uuid(name: str) -> bool:
    """NEAT-AI's rule (§1.4): 1-100 characters of [A-Za-z0-9-], not purely numeric."""
    return bool(_UUID.fullmatch(name)) and not name.isdigit()


def estimated_bytes(neurons: int, inputs: int, outputs: int) -> int:
    """Bytes one observation adds to the buffer (DataRecorderRecording.ts's estimate)."""
    return 200 * neurons + 4 * (inputs + outputs)


def sampled_count(records: int, rate: float) -> int:
    """How many observations a recording of `records` at `rate` holds: ceil(records · rate)."""
    if not (0 < rate <= 1):
        raise ValueError(f"sample_rate must be in (0, 1], got {rate}")
    return min(records, int(np.ceil(records * rate)))


def choose_records(records: int, rate: float, seed: int | None) -> np.ndarray:
    """sampled_count(records, rate) distinct record indexes drawn at random, sorted (sequential reads)."""
    size = sampled_count(records, rate)
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(records)[:size]).astype(np.int32)


class RecordingDirectory:
    """One recording's folder, locked while in use. The lock names the owning process, so a
    sweep can tell a live recording from one whose process died."""

    def __init__(self, base: str | os.PathLike, name: str | None = None):
        self.base = Path(base)
        self.path = self.base / (name or uuid.uuid4().hex)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / LOCK).write_text(str(os.getpid()))

    @property
    def data(self) -> Path:
        return self.path / DATA

    def save_indices(self, source: str, indices: Sequence[int]) -> Path:
        target = self.path / INDICES
        target.write_text(json.dumps({source: [int(i) for i in indices]}))
        return target

    def save_creature(self, creature_json: str) -> Path:
        target = self.path / CREATURE
        target.write_text(creature_json)
        return target

    def unlock(self) -> None:
        """The recording is complete and may be read by anyone; it is no orphan."""
        (self.path / LOCK).unlink(missing_ok=True)
        (self.path / ".complete").write_text("")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans(base: str | os.PathLike) -> list[Path]:
    """Remove recording folders under `base` that are neither complete nor locked by a live
    process (a crash mid-recording leaves such a folder); returns what was removed."""
    base = Path(base)
    removed = []
    if not base.is_dir():
        return removed
    for folder in base.iterdir():
        if not folder.is_dir() or (folder / ".complete").exists():
            continue
        lock = folder / LOCK
        try:
            pid = int(lock.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and _pid_alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
        log.info("removed orphaned discovery recording %s", folder)
    return removed


class RecordingWriter:
    """Appends batches of observations to one Parquet file: row groups are flushed every
    `flush_records` observations or `flush_bytes` estimated bytes, after a free-disk check;
    `finish` renames the `.tmp` file into place, `abort` deletes it (no half-written file ever
    carries the final name)."""

    def __init__(self, path: str | os.PathLike, neuron_uuids: Sequence[str], inputs: int, outputs: int,
                 flush_records: int = FLUSH_RECORDS, flush_bytes: int = FLUSH_BYTES,
                 min_free_bytes: int = MIN_FREE_BYTES, prediction_errors: bool = False):
        bad = [u for u in neuron_uuids if not valid_neuron_uuid(u)]
        if bad:
            raise RecordingError(f"neuron uuids must be 1-100 characters of [A-Za-z0-9-] and not purely "
                                 f"numeric; got {bad[:3]}")
        if flush_records < 1 or flush_bytes < 1:
            raise ValueError("flush_records and flush_bytes must be >= 1")
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.neurons = len(neuron_uuids)
        self.inputs = inputs
        self.flush_records = flush_records
        self.flush_bytes = flush_bytes
        self.min_free_bytes = min_free_bytes
        self.schema = SCHEMA_PC if prediction_errors else SCHEMA
        self.per_observation = estimated_bytes(self.neurons, inputs, outputs)
        # Observations per flush: appending blocks of this size makes every row group exact.
        self.block = max(1, min(flush_records, -(-flush_bytes // self.per_observation)))
        # Every row's uuid is a take from this one array (C++), not a Python string each.
        self._names = pa.array(list(neuron_uuids) + [f"input-{i}" for i in range(inputs)], pa.string())
        width = self.neurons + inputs
        self._has_error = np.concatenate([np.ones(self.neurons, bool), np.zeros(inputs, bool)])
        self._width = width
        self._buffer: list[tuple[np.ndarray, ...]] = []
        self._buffered = 0
        self.observations = 0
        self.row_groups = 0
        self._block_columns: dict[int, tuple[pa.Array, pa.Array]] = {}
        # use_compliant_nested_type=False keeps the list item named "item", as SCHEMA names it.
        # Dictionary encoding only where it pays (uuids repeat every observation, obs_index runs):
        # tried on the float columns it costs more than half the write time and saves nothing.
        self._writer = pq.ParquetWriter(self.tmp, self.schema, use_compliant_nested_type=False,
                                        use_dictionary=["neuron_uuid"], write_statistics=["obs_index"])

    def append(self, values: np.ndarray, activations: np.ndarray, errors: np.ndarray, inputs: np.ndarray,
               prediction_errors: np.ndarray | None = None) -> None:
        """Observations [n, neurons] (errors one per neuron; NaN = unknown) with their inputs [n, inputs],
        and the prediction errors [n, neurons] when the recording has that column."""
        n = values.shape[0]
        if values.shape != (n, self.neurons) or activations.shape != values.shape or errors.shape != values.shape \
                or inputs.shape != (n, self.inputs):
            raise ValueError("observation arrays disagree with the recording's neurons and inputs")
        if (prediction_errors is None) != (self.schema is SCHEMA) or \
                (prediction_errors is not None and prediction_errors.shape != values.shape):
            raise ValueError("prediction errors [n, neurons] are given exactly when the recording has the column")
        if prediction_errors is None:
            prediction_errors = np.empty((n, 0), np.float32)
        if self.observations + self._buffered + n > 2 ** 32:
            raise RecordingError("a recording holds at most 2^32 observations (obs_index is uint32)")
        self._buffer.append((values, activations, errors, inputs, prediction_errors))
        self._buffered += n
        if self._buffered >= self.flush_records or self._buffered * self.per_observation >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._buffered:
            return
        free = shutil.disk_usage(self.tmp.parent).free
        if free < self.min_free_bytes:
            raise DiskSpaceError(f"only {free / 1e6:.0f} MB free under {self.tmp.parent}; a discovery recording "
                                 f"needs {self.min_free_bytes / 1e6:.0f} MB before each flush: free disk space or "
                                 f"point the recording directory elsewhere")
        values, activations, errors, inputs, predicted = (np.concatenate(parts) for parts in zip(*self._buffer))
        self._buffer, n = [], self._buffered
        self._buffered = 0
        self._writer.write_table(self._table(values, activations, errors, inputs, predicted),
                                 row_group_size=n * self._width)
        self.observations += n
        self.row_groups += 1

    def _table(self, values, activations, errors, inputs, predicted) -> pa.Table:
        n, width = values.shape[0], self._width
        obs = np.repeat(np.arange(self.observations, self.observations + n, dtype=np.uint32), width)
        value = np.concatenate([values, inputs.astype(np.float32)], axis=1).ravel()
        activation = np.concatenate([activations, inputs.astype(np.float32)], axis=1).ravel()
        names, offsets = self._columns_of(n)
        items = pa.array(np.ascontiguousarray(errors, np.float32).ravel())
        columns = [pa.array(obs), names, pa.array(value), pa.array(activation),
                   pa.ListArray.from_arrays(offsets, items, type=SCHEMA.field("errors").type)]
        if self.schema is SCHEMA_PC:
            padded = np.concatenate([predicted.astype(np.float32), np.zeros_like(inputs, np.float32)], axis=1)
            columns.append(pa.array(padded.ravel(), mask=np.tile(~self._has_error, n)))
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _columns_of(self, n: int) -> tuple[pa.Array, pa.Array]:
        """The uuid column and the errors' list offsets of n observations: the same for every
        flush of n, so built once per size (they are half the cost of building a row group)."""
        cached = self._block_columns.get(n)
        if cached is None:
            lengths = np.tile(self._has_error, n)
            offsets = np.zeros(lengths.size + 1, np.int32)
            np.cumsum(lengths, out=offsets[1:])
            names = self._names.take(pa.array(np.tile(np.arange(self._width, dtype=np.int32), n)))
            cached = self._block_columns[n] = (names, pa.array(offsets))
            if len(self._block_columns) > 2:   # the full block and the last one
                self._block_columns.pop(next(iter(self._block_columns)))
        return cached

    def finish(self) -> Path:
        self.flush()
        self._writer.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)
