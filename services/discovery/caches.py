"""The success and failure caches on disk (seed 001 "Cache Architecture", reference/discovery.md
§5.5, §10): `<root>/success/<changeType>/<key>.json` and `<root>/failure/<changeType>/<key>.json`.

Failures are looked up before slots are allocated, so a change that did not help is not scored
again; successes are replayed into phase 2 and inform the removal candidates. `combo-*` results
are not cached (they depend on the base creature) except `combo-successful`, which is keyed by
the resulting structure. Several discovery replicas may share one volume: every write goes to a
unique temporary name and is renamed into place (readers never see half a file), and the
compare-and-replace of a success (the higher score is kept) holds a per-directory `flock`.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .candidates import CHANGE_TYPES, COMBO_SUCCESSFUL, REMOVE_LOW_IMPACT, REMOVE_NEURON, Candidate
from .result import Operation

log = logging.getLogger(__name__)

SUCCESS, FAILURE = "success", "failure"
DAY = 86400.0


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neatai")
    except PackageNotFoundError:  # a source tree never installed
        return "unknown"


# discoveryVersion of every entry: which release's analysis proposed it.
DISCOVERY_VERSION = _package_version()


@dataclass(frozen=True)
class CacheLimits:
    """Eviction (reference §10): entries per cache, age of an entry, age of an unknown type's directory."""
    success_max_entries: int = 10_000
    failure_max_entries: int = 50_000
    ttl_days: float = 30.0
    obsolete_ttl_days: float = 7.0


@dataclass(frozen=True)
class Outcome:
    """One scored candidate against the re-scored original."""
    original_score: float
    candidate_score: float
    original_error: float
    error: float

    @property
    def improved(self) -> bool:
        return self.candidate_score > self.original_score

    @property
    def delta(self) -> float:
        return self.candidate_score - self.original_score


def cacheable(change_type: str) -> bool:
    return not change_type.startswith("combo-") or change_type == COMBO_SUCCESSFUL


def atomic_write_json(path: Path, data: dict) -> None:
    """Write to a name no other writer uses, then rename over `path` (atomic on one filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, allow_nan=False, default=_json_default)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value):
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a cache entry")


def _read(path: Path) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):  # evicted meanwhile, or not one of ours
        return None


class DiscoveryCaches:
    def __init__(self, root: str | Path, limits: CacheLimits = CacheLimits()):
        self.root = Path(root)
        self.limits = limits
        for kind in (SUCCESS, FAILURE):
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def _path(self, kind: str, change_type: str, key: str) -> Path:
        return self.root / kind / change_type / f"{key}.json"

    # ---- lookups ---------------------------------------------------------------------------

    def is_failure(self, candidate: Candidate) -> bool:
        return cacheable(candidate.change_type) and self._path(FAILURE, candidate.change_type, candidate.key).exists()

    def successes(self, change_types: tuple[str, ...] = CHANGE_TYPES) -> list[dict]:
        """Every success entry of these change types, best score delta first."""
        out = []
        for change_type in change_types:
            folder = self.root / SUCCESS / change_type
            if folder.is_dir():
                out += [e for e in (_read(p) for p in folder.glob("*.json")) if e is not None]
        return sorted(out, key=lambda e: -float(e.get("scoreDelta", 0.0)))

    def failure_summaries(self, limit: int = 500) -> list[dict]:
        """The `limit` most recent failures, oldest first, as the analysis calibrates on them
        (reference §2.10, §5.5 failureCache[]): change type, expected and actual error reduction."""
        found = []
        for folder in (self.root / FAILURE).iterdir():
            for path in folder.glob("*.json") if folder.is_dir() else ():
                try:
                    found.append((path.stat().st_mtime, path))
                except FileNotFoundError:  # evicted by another replica meanwhile
                    continue
        recent = sorted(found, key=lambda e: e[0])[-limit:]
        return [{"changeType": e["changeType"], "expectedErrorReduction": e["expectedErrorReduction"],
                 "actualErrorReduction": e["actualErrorReduction"]}
                for e in (_read(p) for _, p in recent) if e is not None]

    def successful_removal_uuids(self) -> set[str]:
        """Neurons whose removal alone improved a creature before (cache-informed removals)."""
        return {u for e in self.successes((REMOVE_LOW_IMPACT, REMOVE_NEURON))
                for u in e["actualCreatureChange"]["removedNeuronUUIDs"]}

    # ---- writes ----------------------------------------------------------------------------

    def record(self, candidate: Candidate, outcome: Outcome, discovery_id: str) -> str | None:
        """Store the candidate's outcome; returns SUCCESS, FAILURE or None (not cacheable)."""
        if not cacheable(candidate.change_type) or not candidate.key:
            return None
        kind = SUCCESS if outcome.improved else FAILURE
        entry = entry_for(candidate, outcome, discovery_id)
        path = self._path(kind, candidate.change_type, candidate.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _Locked(path.parent):
            if kind == SUCCESS:
                old = _read(path)
                if old is not None and float(old.get("candidateScore", -1e300)) >= outcome.candidate_score:
                    return kind  # de-duplication keeps the higher score
                # It helped this time: a failure recorded before no longer predicts anything.
                self._path(FAILURE, candidate.change_type, candidate.key).unlink(missing_ok=True)
            atomic_write_json(path, entry)
        return kind

    # ---- eviction --------------------------------------------------------------------------

    def evict(self, now: float | None = None) -> dict[str, int]:
        """Drop entries past their age, the oldest beyond the size limits, and directories of
        change types this version does not know that nothing wrote to for a week."""
        now = time.time() if now is None else now
        removed = {SUCCESS: 0, FAILURE: 0}
        for kind, cap in ((SUCCESS, self.limits.success_max_entries), (FAILURE, self.limits.failure_max_entries)):
            entries = []
            for folder in (self.root / kind).iterdir():
                if not folder.is_dir():
                    continue
                files = [(p.stat().st_mtime, p) for p in folder.glob("*.json") if p.exists()]
                if folder.name not in CHANGE_TYPES:
                    if not files or now - max(t for t, _ in files) > self.limits.obsolete_ttl_days * DAY:
                        removed[kind] += len(files)
                        shutil.rmtree(folder, ignore_errors=True)
                    continue
                entries += files
            entries.sort(key=lambda e: e[0], reverse=True)
            for k, (mtime, path) in enumerate(entries):
                if k >= cap or now - mtime > self.limits.ttl_days * DAY:
                    path.unlink(missing_ok=True)  # another replica may have evicted it first
                    removed[kind] += 1
        return removed

    def counts(self) -> dict[str, dict[str, int]]:
        """Entries per change type in each cache."""
        out: dict[str, dict[str, int]] = {SUCCESS: {}, FAILURE: {}}
        for kind in out:
            for folder in sorted((self.root / kind).iterdir()):
                if folder.is_dir():
                    out[kind][folder.name] = sum(1 for _ in folder.glob("*.json"))
        return out


class _Locked:
    """An exclusive flock on `<folder>/.lock`: one replica at a time compares and replaces."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def entry_for(candidate: Candidate, outcome: Outcome, discovery_id: str) -> dict:
    """The entry fields of reference §5.5, with the operations for an exact replay."""
    ops = candidate.operations
    return {
        "key": candidate.key,
        "changeType": candidate.change_type,
        "description": candidate.description,
        "originalScore": outcome.original_score,
        "candidateScore": outcome.candidate_score,
        "scoreDelta": outcome.delta,
        "originalError": outcome.original_error,
        "error": outcome.error,
        "expectedErrorReduction": candidate.expected_gain,
        "actualErrorReduction": outcome.original_error - outcome.error,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "discoveryVersion": DISCOVERY_VERSION,
        "discoveryID": discovery_id,
        "rustRequest": candidate.suggestion,
        "actualCreatureChange": {
            "operations": [asdict(op) for op in ops],
            "addedNeurons": [op.neuron_uuid for op in ops if op.kind == "addNeuron"],
            "addedSynapses": [f"{op.from_uuid}->{op.to_uuid}" for op in ops if op.kind == "addSynapse"],
            "removedNeuronUUIDs": [op.neuron_uuid for op in ops if op.kind == "removeNeuron"],
            "removedSynapseKeys": [f"{op.from_uuid}->{op.to_uuid}" for op in ops if op.kind == "removeSynapse"],
        },
    }


def operations_of(entry: dict) -> tuple[Operation, ...]:
    """The operations a cache entry recorded (to replay it on another creature)."""
    return tuple(Operation(**op) for op in entry["actualCreatureChange"]["operations"])
