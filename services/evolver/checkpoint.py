"""Run checkpoints on disk, written atomically so a crash never leaves a torn file behind.

Layout under the state directory:

    runs/<run id>/run.json.gz     config, dataset id, state, evolution state_dict, history length
    runs/<run id>/history.jsonl   one generation report per line, appended
    runs/<run id>/dataset.npz     the dataset (X, Y and column names), written once
    runs/<run id>/validation.npz  the held-out dataset, when the run has one
    runs/<run id>/scores.jsonl    client-computed runs: scores told for the generation in progress

Every write of run.json.gz goes to a temporary file in the same directory, is flushed and
fsynced, then `os.replace`d over the previous file: a reader sees either the old checkpoint or
the new one, never a mix. A crash mid-write leaves only a `*.tmp` file, which loading ignores
and removes. The directory itself is not fsynced: after a power cut the rename may be lost,
which resumes the run from the generation before (the same result, one generation later).
The checkpoint is gzip'd JSON (`zcat run.json.gz`): a population of 150 XOR creatures is
~340 KB of JSON but ~30 KB compressed, and the fsync, not the compression, is what costs.

The history only grows, so it is appended (and fsynced) before run.json.gz names its new length,
instead of being rewritten every generation. Lines beyond that length (a crash between the two
writes, or a torn last line) are cut off when the checkpoint is loaded.
"""
from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import re
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from neatai.datasets import Dataset

log = logging.getLogger(__name__)

CHECKPOINT = "run.json.gz"
HISTORY = "history.jsonl"
DATASET = "dataset.npz"
SCORES = "scores.jsonl"
VALIDATION_DATASET = "validation.npz"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class CheckpointError(Exception):
    """A checkpoint could not be read (corrupt or unreadable file)."""


class StateDirBusy(OSError):
    """Another evolver holds the state directory: two writers would corrupt each other's runs."""


def valid_run_id(run_id: str) -> bool:
    """Run ids become directory names: letters, digits, '.', '_', '-' only."""
    return bool(_RUN_ID.match(run_id))


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (temp file + fsync + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class CheckpointStore:
    """Saves and loads run checkpoints under `root/runs/`. Holds an exclusive lock on
    `root/.lock` until `close()` (or process death, which releases it with the file)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise StateDirBusy(f"state directory {self.root} is in use by another evolver") from None

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def run_dir(self, run_id: str) -> Path:
        if not valid_run_id(run_id):
            raise ValueError(f"invalid run id {run_id!r}")
        return self.runs_dir / run_id

    def save_dataset(self, run_id: str, dataset: Dataset, file: str = DATASET) -> None:
        import io

        buf = io.BytesIO()
        np.savez(buf, X=dataset.X, Y=dataset.Y, feature_names=np.array(dataset.feature_names, dtype=str),
                 target_names=np.array(dataset.target_names, dtype=str), name=np.array(dataset.name))
        atomic_write(self.run_dir(run_id) / file, buf.getvalue())

    def load_dataset(self, run_id: str, file: str = DATASET) -> Dataset:
        path = self.run_dir(run_id) / file
        try:
            with np.load(path, allow_pickle=False) as z:
                return Dataset(z["X"], z["Y"], tuple(str(v) for v in z["feature_names"]),
                               tuple(str(v) for v in z["target_names"]), str(z["name"]))
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"{path}: {e}") from None

    def save(self, run_id: str, checkpoint: dict[str, Any]) -> None:
        data = json.dumps(checkpoint, separators=(",", ":"), allow_nan=False).encode()
        atomic_write(self.run_dir(run_id) / CHECKPOINT, gzip.compress(data, compresslevel=1, mtime=0))

    def append_history(self, run_id: str, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        with open(self.run_dir(run_id) / HISTORY, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def append_scores(self, run_id: str, generation: int, results: list[list]) -> None:
        """Client-told scores ([position, score, error], non-finite numbers as strings) of
        `generation`, appended and fsynced: far cheaper than a checkpoint per Tell."""
        line = json.dumps({"generation": generation, "results": results}, separators=(",", ":"),
                          allow_nan=False).encode() + b"\n"
        with open(self.run_dir(run_id) / SCORES, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def load_scores(self, run_id: str, generation: int) -> list[list]:
        """What `append_scores` kept for `generation` (a torn last line is ignored)."""
        try:
            lines = (self.run_dir(run_id) / SCORES).read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("generation") == generation:
                out.extend(entry["results"])
        return out

    def drop_scores(self, run_id: str) -> None:
        """After a generation is checkpointed its told scores are in the evolution state."""
        (self.run_dir(run_id) / SCORES).unlink(missing_ok=True)

    def load_history(self, run_id: str, length: int) -> list[dict[str, Any]]:
        """The first `length` entries; anything after them is cut off the file."""
        path = self.run_dir(run_id) / HISTORY
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        lines = data.split(b"\n")
        if len(lines) <= length:  # the last complete line ends with "\n": one more (maybe empty) part
            raise CheckpointError(f"{path}: holds {max(0, len(lines) - 1)} complete entries, the checkpoint names {length}")
        kept = lines[:length]
        try:
            entries = [json.loads(line) for line in kept]
        except ValueError as e:
            raise CheckpointError(f"{path}: {e}") from None
        kept_bytes = sum(len(line) + 1 for line in kept)
        if kept_bytes != len(data) or not path.exists():
            atomic_write(path, data[:kept_bytes])
        return entries

    def load(self, run_id: str) -> dict[str, Any]:
        directory = self.run_dir(run_id)
        _remove_torn(directory)
        path = directory / CHECKPOINT
        try:
            return json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, EOFError, ValueError, zlib.error) as e:
            raise CheckpointError(f"{path}: {e}") from None

    def exists(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / CHECKPOINT).exists()

    def run_ids(self) -> list[str]:
        """Runs that have a complete checkpoint, oldest directory first."""
        found = [p for p in self.runs_dir.iterdir() if p.is_dir() and valid_run_id(p.name) and (p / CHECKPOINT).exists()]
        return [p.name for p in sorted(found, key=lambda p: (p.stat().st_mtime, p.name))]

    def load_all(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every readable checkpoint; unreadable ones are logged and skipped."""
        for run_id in self.run_ids():
            try:
                yield run_id, self.load(run_id)
            except CheckpointError as e:
                log.error("skipping unreadable checkpoint: %s", e)


def _remove_torn(directory: Path) -> None:
    """Temp files are leftovers of writes a crash interrupted; the real file is the last good one."""
    if not directory.is_dir():
        return
    for tmp in directory.glob(".*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass
