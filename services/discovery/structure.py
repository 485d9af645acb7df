"""What the analysis needs to know about the creature's wiring: rows, kinds, inbound and
outbound synapses, candidate sources of each target, and every neuron's impact (§2.10)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neatai.creature import Creature
from neatai.squash import BY_NAME


@dataclass
class Structure:
    creature: Creature
    names: list[str]                      # row -> uuid (inputs first, as the recording's rows)
    row: dict[str, int]
    kind: list[str]                       # "input" | "hidden" | "output" | "constant"
    squash: list[str]                     # "" for inputs
    bias: list[float]
    inbound: list[dict[int, float]]       # row -> {source row: weight}
    outbound: list[dict[int, float]]      # row -> {target row: weight}
    impact: np.ndarray = field(default=None)  # float64[rows], unclamped

    @classmethod
    def of(cls, creature: Creature) -> "Structure":
        names = [f"input-{i}" for i in range(creature.input)] + [n.uuid for n in creature.neurons]
        row = {n: i for i, n in enumerate(names)}
        kind = ["input"] * creature.input + [n.type for n in creature.neurons]
        squash = [""] * creature.input + [n.squash_name for n in creature.neurons]
        bias = [0.0] * creature.input + [float(n.bias) for n in creature.neurons]
        inbound = [dict() for _ in names]
        outbound = [dict() for _ in names]
        for s in creature.synapses:
            f, t = row[s.from_uuid], row[s.to_uuid]
            inbound[t][f] = inbound[t].get(f, 0.0) + float(s.weight)
            outbound[f][t] = outbound[f].get(t, 0.0) + float(s.weight)
        out = cls(creature, names, row, kind, squash, bias, inbound, outbound)
        out.impact = impacts(out)
        return out

    def is_aggregate(self, r: int) -> bool:
        return bool(self.squash[r]) and BY_NAME[self.squash[r]].aggregate

    def candidate_sources(self, t: int) -> list[int]:
        """Unconnected upstream rows: inputs and neurons before t (forward only, no cycles)."""
        return [s for s in range(t) if s not in self.inbound[t] and self.kind[s] != "output"]

    def hidden_rows(self) -> list[int]:
        return [r for r, k in enumerate(self.kind) if k == "hidden"]

    def selectable_rows(self) -> list[int]:
        """Rows the analysis may focus on: non-input, non-constant."""
        return [r for r, k in enumerate(self.kind) if k in ("hidden", "output")]


def impacts(s: Structure) -> np.ndarray:
    """§2.10: outputs 1; a hidden neuron Σ over its children of |w(n→c)| / Σ_k |w(k→c)| × impact(c)
    (a hub feeding three outputs has impact 3; callers clamp for gains). Aggregating children
    are weighted like any other (NEAT-AI's win-probability weighting of MINIMUM/MAXIMUM is not
    reproduced)."""
    impact = np.zeros(len(s.names))
    for r in range(len(s.names) - 1, -1, -1):
        if s.kind[r] == "output":
            impact[r] = 1.0
            continue
        total = 0.0
        for c, w in s.outbound[r].items():
            denominator = sum(abs(v) for v in s.inbound[c].values())
            if denominator > 0:
                total += abs(w) / denominator * impact[c]
        impact[r] = total
    return impact
