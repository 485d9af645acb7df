"""`DIR/job.json`: what an in-process `neatai run` needs to continue after an interruption.

The evolver checkpoints under `DIR/state` (services/evolver/checkpoint.py); this file names the
run there and holds what the command itself derived: the validated config and how the data was
read and prepared. `neatai run --resume DIR` reads the same files again, prepares them the same
way (the split and the scaling are seeded) and checks that the records evolution sees are the
ones the checkpoint holds, so a changed file is refused instead of silently mixed in.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

JOB = "job.json"
STATE = "state"
DISCOVERY = "discovery"  # an in-process run's discovery caches and diagnostics.json
VERSION = 1


class JobError(ValueError):
    """The directory holds no resumable run; the message says why."""


@dataclass
class Data:
    """How the run's data was read (`--dataset` …) and prepared, resolved: paths are absolute."""

    dataset: str
    targets: list[str] | None
    inputs: int | None
    outputs: int | None
    test: str | None
    task: str | None
    validation_fraction: float
    standardise: bool | None


@dataclass
class JobFile:
    run_id: str
    config: dict  # EvolverConfig.to_dict(): NEAT-AI option names
    data: Data


def absolute(path: str | None) -> str | None:
    """Resume may run from another directory; "xor" names the built-in, not a file."""
    if path is None or (path == "xor" and not Path(path).exists()):
        return path
    return str(Path(path).absolute())


def save(out: Path, job: JobFile) -> None:
    data = replace(job.data, dataset=absolute(job.data.dataset), test=absolute(job.data.test))
    (out / JOB).write_text(json.dumps({"version": VERSION, **asdict(replace(job, data=data))}, indent=2) + "\n")


def load(out: Path) -> JobFile:
    path = out / JOB
    if not path.is_file():
        raise JobError(f"--resume {out}: no {JOB} there (not the --out directory of an in-process neatai run)")
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != VERSION:
            raise JobError(f"{path}: unknown version {raw.get('version')!r}")
        return JobFile(raw["run_id"], raw["config"], Data(**raw["data"]))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, JobError):
            raise
        raise JobError(f"{path}: unreadable ({e})") from None
