"""Slots (reference §5.3): cached failures out first, a minimum per category, weighted sampling
by expected gain, a separate removal pool preferring novel removals."""
from __future__ import annotations

import random
from collections import Counter

from neatai.discovery.candidates import (
    ADD_NEURONS, ADD_SYNAPSES, CHANGE_SQUASH, COORDINATED, REMOVE_LOW_IMPACT, Candidate,
)
from neatai.discovery.filtering import max_candidates, select, weighted_sample
from neatai.discovery.result import Operation


def cand(change_type, gain, key, impact=None, removes=None):
    ops = (Operation("removeNeuron", neuron_uuid=removes),) if removes else ()
    return Candidate(change_type, key, ops, gain, {}, key=key, impact=impact)


def pool():
    out = [cand(ADD_SYNAPSES, 0.1 * (i + 1), f"s{i}") for i in range(10)]
    out += [cand(ADD_NEURONS, 0.01, "n0"), cand(CHANGE_SQUASH, 0.0, "q0"), cand(COORDINATED, 0.02, "c0")]
    out += [cand(REMOVE_LOW_IMPACT, 0.0, f"r{i}", impact=i / 10, removes=f"h{i}") for i in range(6)]
    return out


def test_slot_budget_is_twice_the_threads_or_the_categories():
    assert max_candidates(threads=4, categories=3) == 8
    assert max_candidates(threads=1, categories=5) == 5


def test_every_category_gets_its_top_candidate_and_removals_a_separate_pool():
    sel = select(pool(), threads=2, rng=random.Random(1))
    picked = [c.key for c in sel.selected]
    assert sel.max_candidates == 4
    assert {"s9", "n0", "q0", "c0"} <= set(picked)  # the best of each category, whatever its gain
    removals = [c for c in sel.selected if c.is_removal]
    assert len(removals) == 3 and len(sel.selected) == 4 + 3


def test_cached_failures_never_take_a_slot():
    failed = {"s9", "n0"}
    sel = select(pool(), threads=2, rng=random.Random(1), is_failure=lambda c: c.key in failed)
    assert not failed & {c.key for c in sel.selected}
    assert sel.skipped_cached == Counter({ADD_SYNAPSES: 1, ADD_NEURONS: 1})
    assert "s8" in {c.key for c in sel.selected}  # the next best synapse leads its category


def test_weighted_sampling_prefers_high_expected_gain_and_never_repeats():
    items = [cand(ADD_SYNAPSES, 0.9, "big"), *(cand(ADD_SYNAPSES, 0.001, f"small{i}") for i in range(9))]
    firsts = Counter(weighted_sample(items, 1, random.Random(seed))[0].key for seed in range(200))
    assert firsts["big"] > 150
    picked = weighted_sample(items, 10, random.Random(3))
    assert sorted(c.key for c in picked) == sorted(c.key for c in items)


def test_weighted_sampling_is_uniform_when_no_gain_is_positive():
    items = [cand(ADD_SYNAPSES, 0.0, f"z{i}") for i in range(4)]
    firsts = Counter(weighted_sample(items, 1, random.Random(seed))[0].key for seed in range(400))
    assert len(firsts) == 4 and min(firsts.values()) > 50


def test_removals_prefer_novel_neurons_and_low_impact():
    removals = [cand(REMOVE_LOW_IMPACT, 0.0, f"r{i}", impact=i / 100, removes=f"h{i}") for i in range(20)]
    known = {f"h{i}" for i in range(5)}  # the five lowest-impact removals succeeded before
    sel = select(removals, threads=1, rng=random.Random(0), known_removals=known)
    keys = {c.key for c in sel.selected}
    assert len(keys) == 3 and not keys & {f"r{i}" for i in range(5)}
    assert all(int(k[1:]) < 10 for k in keys)  # drawn from the lowest-impact max(10, 3k)


def test_two_suggestions_that_build_the_same_change_take_one_slot():
    twins = [cand(ADD_SYNAPSES, 0.5, "same"), cand(ADD_SYNAPSES, 0.4, "same")]
    assert len(select(twins, threads=4, rng=random.Random(0)).selected) == 1
