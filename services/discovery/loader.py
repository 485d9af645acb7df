"""Reading a recording into dense per-neuron arrays aligned on observations (§9.2).

Rows follow the creature (`input-0..`, then its neurons in order); columns are the distinct
obs_index values, ascending. A (activation) and V (value) are NaN where a neuron has no row for
an observation; E is the mean of an observation's finite errors, NaN when there is none (input
rows, skipped samples). The join of NEAT-AI's TargetMap becomes masking on isfinite."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from neatai.creature import Creature
from neatai.recording import DATA, PC_ERROR, SCHEMA


class RecordingFormatError(ValueError):
    """The file is not a discovery recording of this creature."""


@dataclass
class Recording:
    names: list[str]          # row names: input-i, then the creature's neurons
    obs_index: np.ndarray     # uint32[observations], ascending
    A: np.ndarray             # float32[rows, observations]
    V: np.ndarray
    E: np.ndarray
    recorded_observations: int = 0   # observations in the file when fewer were loaded (memory bound), else 0
    P: np.ndarray | None = None      # prediction errors (pc_error column) when recorded, NaN for inputs

    @property
    def observations(self) -> int:
        return self.obs_index.shape[0]

    def row(self, name: str) -> int:
        return self.names.index(name)


def recording_file(path: str | Path) -> Path:
    """The Parquet file of a recording given as the file or its folder."""
    path = Path(path)
    return path / DATA if path.is_dir() else path


def load_recording(path: str | Path, creature: Creature, max_bytes: int | None = None) -> Recording:
    """The recording's dense arrays; when they would take more than `max_bytes`, only evenly
    spaced observations that fit are loaded (recorded_observations then says how many there were)."""
    file = recording_file(path)
    if not file.exists():
        raise FileNotFoundError(f"no discovery recording at {file}")
    schema = pq.read_schema(file)
    missing = [f.name for f in SCHEMA if f.name not in schema.names]
    if missing:
        raise RecordingFormatError(f"{file} lacks the recording columns {missing}")
    names = [f"input-{i}" for i in range(creature.input)] + [n.uuid for n in creature.neurons]
    columns = SCHEMA.names + ([PC_ERROR] if PC_ERROR in schema.names else [])
    table = pq.read_table(file, columns=columns, read_dictionary=["neuron_uuid"])
    recorded = 0
    if max_bytes is not None and table.num_rows:
        all_obs = np.unique(table["obs_index"].to_numpy())
        fit = max(1, int(max_bytes // (3 * 4 * len(names))))
        if all_obs.shape[0] > fit:
            keep = all_obs[np.linspace(0, all_obs.shape[0] - 1, fit).astype(np.int64)]
            table = table.filter(pc.is_in(table["obs_index"], value_set=pa.array(keep, pa.uint32())))
            recorded = int(all_obs.shape[0])
    position = {n: i for i, n in enumerate(names)}
    uuid = table["neuron_uuid"].combine_chunks()
    dictionary = uuid.dictionary.to_pylist()
    unknown = [u for u in dictionary if u not in position]
    if unknown:
        raise RecordingFormatError(f"{file} records neurons the creature lacks: {unknown[:3]}"
                                   " (a recording of another creature?)")
    rows = np.array([position[u] for u in dictionary], np.int64)[uuid.indices.to_numpy(zero_copy_only=False)]
    obs_raw = table["obs_index"].to_numpy()
    obs, column = np.unique(obs_raw, return_inverse=True)
    shape = (len(names), obs.shape[0])
    A = np.full(shape, np.nan, np.float32)
    V = np.full(shape, np.nan, np.float32)
    E = np.full(shape, np.nan, np.float32)
    A[rows, column] = table["activation"].to_numpy(zero_copy_only=False)
    V[rows, column] = table["value"].to_numpy(zero_copy_only=False)
    errors = table["errors"].combine_chunks()
    items = pc.list_flatten(errors).to_numpy(zero_copy_only=False).astype(np.float64)
    parent = pc.list_parent_indices(errors).to_numpy()
    finite = np.isfinite(items)
    total = np.bincount(parent[finite], weights=items[finite], minlength=len(errors))
    count = np.bincount(parent[finite], minlength=len(errors))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
    E[rows, column] = mean
    P = None
    if PC_ERROR in columns:
        P = np.full(shape, np.nan, np.float32)
        P[rows, column] = table[PC_ERROR].to_numpy(zero_copy_only=False)
    return Recording(names, obs.astype(np.uint32), A, V, E, recorded, P)
