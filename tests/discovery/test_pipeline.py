"""The two phases on the planted creature, scored for real by the evaluator's kernels in process;
the analysis step is the hand-built DiscoverResult (the engine has its own tests)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planted_discovery import HIDDEN, planted_creature, planted_dataset, planted_result

from neatai.discovery.caches import DiscoveryCaches, Outcome
from neatai.discovery.candidates import ADD_SYNAPSES, COMBO_SUCCESSFUL, BuildStats, Candidate, build
from neatai.discovery.combinations import combine, index_sets, prune, supplement
from neatai.discovery.pipeline import Cancelled, DeadlineExceeded, Pipeline, PipelineOptions
from neatai.discovery.result import Operation
from neatai.evaluator.service import evaluate_in_process

DATA = planted_dataset()


def record_to(folder):
    """The recording step: the sampled inputs as Parquet (the analysis below reads its path)."""
    def record(creature):
        path = folder / "recording.parquet"
        pq.write_table(pa.table({f"x{i}": DATA.X[:, i] for i in range(DATA.inputs)}), path)
        return str(path)
    return record


def analyse(path, creature):
    assert pq.read_table(path).num_rows == DATA.records
    return planted_result()


def score(creatures):
    return evaluate_in_process(creatures, DATA.X, DATA.Y, cost="MSE")


def pipeline(tmp_path, **options):
    return Pipeline(record_to(tmp_path), analyse, score, DiscoveryCaches(tmp_path / "cache"),
                    PipelineOptions(**{"threads": 4, **options}), diagnostics_dir=tmp_path)


def test_the_planted_missing_synapse_comes_back_and_the_best_of_both_phases_wins(tmp_path):
    out = pipeline(tmp_path).run(planted_creature(), "d1")
    assert out.improved and out.best.outcome.candidate_score > out.original_score
    ends = {(s.from_uuid, s.to_uuid) for s in out.best.candidate.creature.synapses}
    assert ("input-1", "output-0") in ends
    assert out.evaluated[1] >= 6 and out.evaluated.get(2, 0) >= 1
    assert all(r.outcome.improved for r in out.additional)
    assert out.best.outcome.candidate_score >= max(r.outcome.candidate_score for r in out.additional)
    assert set(out.timings) == {"recording", "analysis", "phase1", "phase2"}
    d = json.loads((tmp_path / "diagnostics.json").read_text())
    assert d["discoveryID"] == "d1"
    synapses = d["changeTypes"][ADD_SYNAPSES]
    assert synapses["evaluated"] == 2 and synapses["improved"] >= 1 and synapses["successRate"] >= 50.0


def test_a_second_run_skips_the_cached_failures(tmp_path):
    first = pipeline(tmp_path).run(planted_creature(), "d1")
    failed = sum(d.evaluated - d.improved for t, d in first.diagnostics.items() if t != COMBO_SUCCESSFUL)
    assert failed >= 2
    second = pipeline(tmp_path).run(planted_creature(), "d2")
    assert sum(d.skipped_cached for d in second.diagnostics.values()) == failed
    assert second.evaluated[1] == first.evaluated[1] - failed


def test_cancellation_and_deadline_stop_before_anything_is_cached(tmp_path):
    calls = []
    with pytest.raises(Cancelled):
        pipeline(tmp_path).run(planted_creature(), "d1", cancelled=lambda: calls.append(1) or len(calls) > 2)
    with pytest.raises(DeadlineExceeded):
        pipeline(tmp_path).run(planted_creature(), "d1", deadline=0.0)
    caches = DiscoveryCaches(tmp_path / "cache")
    assert caches.counts() == {"success": {}, "failure": {}}


def test_phase_two_combines_successes_but_never_coordinated_ones(tmp_path):
    base = planted_creature()
    singles, stats = build(base, planted_result())
    coordinated = next(c for c in singles if c.change_type == "coordinated-structural")
    synapse = next(c for c in singles if c.change_type == ADD_SYNAPSES and c.operations[0].from_uuid == "input-1")
    removal = next(c for c in singles if c.is_removal and c.removed_neurons() == [HIDDEN])
    pool = prune([(coordinated, 0.99), (synapse, 0.98), (removal, 0.9)])
    assert pool == [synapse, removal]
    (combo,) = combine(base, pool, stats)
    assert combo.change_type == COMBO_SUCCESSFUL and combo.parts == (synapse.key, removal.key)
    assert HIDDEN not in {n.uuid for n in combo.creature.neurons}


def test_combination_strategies_follow_the_reference_counts():
    def fake(k, removal=False):
        return Candidate("remove-low-impact" if removal else ADD_SYNAPSES, str(k), (), 0.0, {}, key=str(k))
    pool = [fake(0), fake(1), fake(2, True), fake(3, True)]
    sets = index_sets(pool)
    assert (0, 1, 2, 3) in sets and (2, 3) in sets and (0, 1) in sets  # all, all removals, all non-removals
    assert len([s for s in sets if len(s) == 2]) == 6  # every pair among 4
    assert len([s for s in sets if len(s) == 3]) == 4  # triples (≥ 4 successes), leave-one-out the same sets
    assert len(sets) == len(set(sets))


def test_one_success_is_supplemented_with_relevant_history_from_the_cache(tmp_path):

    base = planted_creature()
    caches = DiscoveryCaches(tmp_path)
    singles, stats = build(base, planted_result())
    removal = next(c for c in singles if c.is_removal and c.removed_neurons() == [HIDDEN])
    caches.record(removal, Outcome(0.5, 0.6, 0.5, 0.4), "earlier")
    # A success that names a neuron this creature does not have is not relevant.
    ghost = Candidate(ADD_SYNAPSES, "ghost", (Operation("addSynapse", from_uuid="gone", to_uuid="output-0", weight=0.5),),
                      0.1, {}, removal.creature, key="ghost")
    caches.record(ghost, Outcome(0.5, 0.7, 0.5, 0.3), "earlier")
    synapse = next(c for c in singles if c.change_type == ADD_SYNAPSES and c.operations[0].from_uuid == "input-1")
    extra = supplement(base, [synapse], caches.successes(), BuildStats())
    assert [c.removed_neurons() for c in extra] == [[HIDDEN]]
    assert extra[0].description.endswith("(from the cache)")
    (combo,) = combine(base, [synapse, *extra], stats)
    assert HIDDEN not in {n.uuid for n in combo.creature.neurons}
