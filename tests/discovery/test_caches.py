"""Success and failure caches on disk: one JSON per key per change type, the higher score kept,
combo-* not cached except combo-successful, atomic writes, eviction, several writers."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest
from planted_discovery import planted_creature, planted_result

from neatai.discovery.caches import FAILURE, SUCCESS, CacheLimits, DiscoveryCaches, Outcome, operations_of
from neatai.discovery.candidates import REMOVE_LOW_IMPACT, Candidate, build
from neatai.discovery.operations import apply

BETTER = Outcome(original_score=0.5, candidate_score=0.6, original_error=0.5, error=0.4)
WORSE = Outcome(original_score=0.5, candidate_score=0.4, original_error=0.5, error=0.6)


def candidates():
    return build(planted_creature(), planted_result())[0]


def test_outcomes_go_to_the_cache_they_belong_to(tmp_path):
    caches = DiscoveryCaches(tmp_path)
    good, bad = candidates()[:2]
    assert caches.record(good, BETTER, "d1") == SUCCESS
    assert caches.record(bad, WORSE, "d1") == FAILURE
    path = tmp_path / "success" / good.change_type / f"{good.key}.json"
    entry = json.loads(path.read_text())
    assert entry["scoreDelta"] > 0 and entry["changeType"] == good.change_type and entry["discoveryID"] == "d1"
    assert (tmp_path / "failure" / bad.change_type / f"{bad.key}.json").exists()
    assert caches.is_failure(bad) and not caches.is_failure(good)
    # The entry replays: its operations rebuild the same creature.
    replay = apply(planted_creature(), operations_of(entry)).creature
    assert replay.structural_hash() == good.creature.structural_hash()


def test_a_key_collision_keeps_the_higher_score(tmp_path):
    caches = DiscoveryCaches(tmp_path)
    c = candidates()[0]
    caches.record(c, Outcome(0.5, 0.7, 0.5, 0.3), "d1")
    caches.record(c, Outcome(0.5, 0.6, 0.5, 0.4), "d2")
    (entry,) = caches.successes()
    assert entry["candidateScore"] == 0.7 and entry["discoveryID"] == "d1"


def test_a_success_clears_the_failure_of_its_key(tmp_path):
    caches = DiscoveryCaches(tmp_path)
    c = candidates()[0]
    caches.record(c, WORSE, "d1")
    caches.record(c, BETTER, "d2")
    assert not caches.is_failure(c) and len(caches.successes()) == 1


def test_combinations_are_not_cached_except_combo_successful(tmp_path):
    caches = DiscoveryCaches(tmp_path)
    base = candidates()[0]
    other = Candidate("combo-add-remove", "x", base.operations, 0.1, {}, base.creature, key="k")
    kept = Candidate("combo-successful", "x", base.operations, 0.1, {}, base.creature, key="k")
    assert caches.record(other, WORSE, "d") is None and not caches.is_failure(other)
    assert caches.record(kept, WORSE, "d") == FAILURE and caches.is_failure(kept)


def test_successful_removals_are_known_by_uuid(tmp_path):
    caches = DiscoveryCaches(tmp_path)
    (removal,) = [c for c in candidates() if c.change_type == REMOVE_LOW_IMPACT]
    caches.record(removal, BETTER, "d")
    assert caches.successful_removal_uuids() == {"h-noise"}


def test_eviction_by_age_size_and_obsolete_type(tmp_path):
    caches = DiscoveryCaches(tmp_path, CacheLimits(success_max_entries=2, failure_max_entries=10))
    now = time.time()
    made = candidates()
    for k, c in enumerate(made[:4]):
        caches.record(c, BETTER, "d")
        path = tmp_path / "success" / c.change_type / f"{c.key}.json"
        os.utime(path, (now - k, now - k))  # the first is the newest
    old = made[4]
    caches.record(old, WORSE, "d")
    os.utime(tmp_path / "failure" / old.change_type / f"{old.key}.json", (now - 31 * 86400,) * 2)
    obsolete = tmp_path / "failure" / "retired-type"
    obsolete.mkdir()
    (obsolete / "x.json").write_text("{}")
    os.utime(obsolete / "x.json", (now - 8 * 86400,) * 2)
    removed = caches.evict(now)
    assert removed == {SUCCESS: 2, FAILURE: 2}
    assert {e["key"] for e in caches.successes()} == {made[0].key, made[1].key}  # the two newest
    assert not caches.is_failure(old) and not obsolete.exists()


def test_several_writers_on_one_directory_leave_whole_files_and_the_best_score(tmp_path):
    c = candidates()[0]
    writers = [DiscoveryCaches(tmp_path) for _ in range(4)]  # as replicas sharing a volume would

    def write(k):
        for i in range(25):
            writers[k].record(c, Outcome(0.5, 0.5 + 0.001 * (k * 25 + i + 1), 0.5, 0.4), f"d{k}")

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (entry,) = DiscoveryCaches(tmp_path).successes()
    assert abs(entry["candidateScore"] - 0.6) < 1e-12  # the highest of the 100 writes
    assert not list(tmp_path.rglob("*.tmp"))


def test_failure_summaries_are_the_most_recent_oldest_first(tmp_path):
    caches = DiscoveryCaches(tmp_path)
    now = time.time()
    made = candidates()[:4]
    for k, c in enumerate(made):
        caches.record(c, WORSE, "d")
        os.utime(tmp_path / "failure" / c.change_type / f"{c.key}.json", (now - 10 + k,) * 2)
    summaries = caches.failure_summaries(limit=3)
    assert [s["changeType"] for s in summaries] == [c.change_type for c in made[1:]]
    assert all(s["actualErrorReduction"] == pytest.approx(-0.1) and s["expectedErrorReduction"] > 0 for s in summaries)
