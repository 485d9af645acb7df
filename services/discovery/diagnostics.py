"""Per-change-type diagnostics of a discovery run (seed 001 "Discovery Diagnostics", reference
§5.6): evaluated, improved, mean score delta, success rate; in the result, in
`diagnostics.json` and as metrics."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from .caches import atomic_write_json


@dataclass
class TypeDiagnostics:
    evaluated: int = 0
    improved: int = 0
    delta_sum: float = 0.0
    repaired: int = 0
    skipped_cached: int = 0

    @property
    def mean_delta(self) -> float:
        return self.delta_sum / self.evaluated if self.evaluated else 0.0

    @property
    def success_rate(self) -> float:
        """Percent of the evaluated candidates that improved the score."""
        return 100.0 * self.improved / self.evaluated if self.evaluated else 0.0


def tally(outcomes: Iterable[tuple[str, float]]) -> dict[str, TypeDiagnostics]:
    """(change type, score delta) per evaluated candidate → diagnostics per change type."""
    out: dict[str, TypeDiagnostics] = {}
    for change_type, delta in outcomes:
        d = out.setdefault(change_type, TypeDiagnostics())
        d.evaluated += 1
        d.improved += delta > 0
        d.delta_sum += delta
    return out


def to_json(discovery_id: str, diagnostics: dict[str, TypeDiagnostics]) -> dict:
    return {
        "discoveryID": discovery_id,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "changeTypes": {t: {"evaluated": d.evaluated, "improved": d.improved, "successRate": d.success_rate,
                            "averageScoreDelta": d.mean_delta, "repaired": d.repaired,
                            "skippedCached": d.skipped_cached}
                        for t, d in sorted(diagnostics.items())},
    }


def write(folder: Path, discovery_id: str, diagnostics: dict[str, TypeDiagnostics]) -> Path:
    """`<folder>/diagnostics.json` (the latest run, atomically replaced)."""
    path = Path(folder) / "diagnostics.json"
    atomic_write_json(path, to_json(discovery_id, diagnostics))
    return path
