"""Focus ranking and selection (reference/discovery.md §3.3, §3.4) and the low-impact removal
rule (§2.9), on a hand-made creature."""
from __future__ import annotations

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.discovery import focus
from neatai.discovery.structure import Structure


def fan(hidden: int = 10) -> Creature:
    """input-0 → h0..h{n-1} → out, h_i feeding out with weight i + 1 (so impact grows with i)."""
    return Creature.from_json({"input": 1, "output": 1, "neurons": [
        *({"type": "hidden", "uuid": f"h{i}", "bias": 0, "squash": "TANH"} for i in range(hidden)),
        {"type": "output", "uuid": "out", "bias": 0, "squash": "IDENTITY"}], "synapses": [
        *({"fromUUID": "input-0", "toUUID": f"h{i}", "weight": 1.0} for i in range(hidden)),
        *({"fromUUID": f"h{i}", "toUUID": "out", "weight": float(i + 1)} for i in range(hidden))]})


def arrays(s: Structure, n: int = 200):
    rng = np.random.default_rng(0)
    A = rng.uniform(-1, 1, (len(s.names), n)).astype(np.float32)
    E = np.full_like(A, np.nan)
    E[1:] = rng.normal(0, 0.1, (len(s.names) - 1, n))
    return A, E


def test_impact_is_the_weight_share_of_each_child():
    s = Structure.of(fan(4))
    np.testing.assert_allclose(s.impact[1:5], np.arange(1, 5) / 10)   # |w| / Σ|w| into the output
    assert s.impact[-1] == 1 and s.impact[0] == 1.0                 # input-0 feeds all four: Σ shares


def test_ranking_weights_error_by_impact_and_selection_is_80_20_and_seeded():
    s = Structure.of(fan(10))
    A, E = arrays(s)
    ranked = focus.rank(focus.neuron_stats(A, E, s), s)
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    picks = {seed: focus.select(ranked, s, 5, 1e-7, np.random.default_rng(seed)) for seed in range(8)}
    for chosen in picks.values():
        assert [f.reason for f in chosen] == ["exploit"] * 4 + ["explore"]
        assert [f.neuron_uuid for f in chosen[:4]] == [s.names[r.row] for r in ranked[:4]]
        assert chosen[4].neuron_uuid not in {f.neuron_uuid for f in chosen[:4]}
    assert focus.select(ranked, s, 5, 1e-7, np.random.default_rng(3)) == picks[3]
    assert len({p[4].neuron_uuid for p in picks.values()}) > 1        # exploration varies with the seed
    drought = focus.select(ranked, s, 5, 1e-7, np.random.default_rng(0), drought=True)
    assert [f.reason for f in drought] == ["exploit"] * 3 + ["explore"] * 2
    forced = focus.select(ranked, s, 3, 1e-7, np.random.default_rng(0), forced=["h0"])
    assert forced[0].neuron_uuid == "h0" and forced[0].reason == "forced" and len(forced) == 3


def test_low_impact_removal_compares_the_growth_saving_with_the_activation_weighted_impact():
    c = fan(2)
    c.synapses[-1].weight = 1e-9            # h1 → out carries almost nothing
    s = Structure.of(c)
    A, E = arrays(s)
    removals = focus.low_impact_removals(focus.neuron_stats(A, E, s), s, cost_of_growth=1e-7, noise_floor=0)
    assert [r.neuron_uuid for r in removals] == ["h1"]
    awi = s.impact[2] * np.abs(A[2]).mean()
    assert removals[0].expected_gain == pytest.approx(1.5 * 1e-7 * (1 + 2 / 10) - awi, rel=1e-9)
    assert focus.low_impact_removals(focus.neuron_stats(A, E, s), s, 1e-7, noise_floor=1e-5) == []


def test_result_values_are_plain_python_numbers():
    s = Structure.of(fan(3))
    A, E = arrays(s)
    chosen = focus.select(focus.rank(focus.neuron_stats(A, E, s), s), s, 2, 1e-7, np.random.default_rng(0))
    assert all(type(f.score) is float for f in chosen)
