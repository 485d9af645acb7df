"""Activation recording (reference/discovery.md §1): the kernel's values, activations and errors
on hand-computed creatures, and the Parquet recording: schema, rows, a global obs_index across
flushes, saved record indexes, the disk check, the lock and the orphan sweep, and no
half-written file when a recording is interrupted."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.evaluator import compile_network
from neatai.evaluator.network import trainable_network
from neatai.evaluator.recorder import RecordingStopped, record
from neatai.evaluator.recording import record_activations
from neatai.recording import (LOCK, SCHEMA, DiskSpaceError, RecordingDirectory, RecordingError, RecordingWriter,
                              choose_records, sweep_orphans, valid_neuron_uuid)


def two_layer(out_squash="IDENTITY") -> Creature:
    """inputs (x0, x1) → h = TANH(0.1 + 0.5 x0 − 0.3 x1) → o = out_squash(0.2 + 2 h + x1)."""
    return Creature.from_json({"input": 2, "output": 1, "neurons": [
        {"type": "hidden", "uuid": "h", "bias": 0.1, "squash": "TANH"},
        {"type": "output", "uuid": "o", "bias": 0.2, "squash": out_squash}], "synapses": [
        {"fromUUID": "input-0", "toUUID": "h", "weight": 0.5},
        {"fromUUID": "input-1", "toUUID": "h", "weight": -0.3},
        {"fromUUID": "h", "toUUID": "o", "weight": 2.0},
        {"fromUUID": "input-1", "toUUID": "o", "weight": 1.0}]})


def run(creature, X, Y):
    return record_activations(trainable_network(creature), np.array(X, np.float32), np.array(Y, np.float32))


def test_values_and_errors_follow_the_elastic_attribution_by_hand():
    values, acts, errors = run(two_layer(), [[2, 1]], [[3]])
    vh = 0.1 + 0.5 * 2 - 0.3 * 1
    ah = math.tanh(vh)
    vo = 0.2 + 2 * ah + 1
    e_o = 3 - vo                                 # IDENTITY: target − value
    share_h = e_o * ah ** 2 / (ah ** 2 + 1 ** 2)  # split by squared source activations
    e_h = math.atanh(ah + share_h / 2.0) - vh     # h asked for share / w more activation
    np.testing.assert_allclose(values[0], [vh, vo], rtol=1e-6)
    np.testing.assert_allclose(acts[0], [ah, vo], rtol=1e-6)
    np.testing.assert_allclose(errors[0], [e_h, e_o], rtol=1e-5)
    assert e_o > 0 and e_h > 0                   # both values should rise


def test_targets_are_clipped_to_the_squash_range_and_inverted_in_the_value_domain():
    _, acts, errors = run(two_layer("LOGISTIC"), [[2, 1], [2, 1]], [[1.5], [0.25]])
    vo = 0.2 + 2 * math.tanh(0.8) + 1
    assert errors[0, 1] == pytest.approx(math.log((1 - 1e-7) / 1e-7) - vo, rel=1e-4)  # 1.5 → 1 (clipped)
    assert errors[1, 1] == pytest.approx(math.log(0.25 / 0.75) - vo, rel=1e-5)


def test_a_relu_already_in_its_flat_region_has_no_error():
    relu = Creature.from_json({"input": 1, "output": 1, "neurons": [
        {"type": "output", "uuid": "o", "bias": 0, "squash": "ReLU"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "o", "weight": 1.0}]})
    _, _, errors = run(relu, [[-1], [-1], [2]], [[0], [0.5], [0]])
    np.testing.assert_allclose(errors[:, 0], [0, 1.5, -2])


def aggregate_over_two_hidden(squash: str, roles=(None, None)) -> Creature:
    """h0 = x0, h1 = x1 (IDENTITY) → out = squash over (2·h0, 1·h1) [+ input-0 as IF's condition]."""
    synapses = [{"fromUUID": "input-0", "toUUID": "h0", "weight": 1.0},
                {"fromUUID": "input-1", "toUUID": "h1", "weight": 1.0},
                {"fromUUID": "h0", "toUUID": "out", "weight": 2.0, **({"type": roles[0]} if roles[0] else {})},
                {"fromUUID": "h1", "toUUID": "out", "weight": 1.0, **({"type": roles[1]} if roles[1] else {})}]
    if squash == "IF":
        synapses.append({"fromUUID": "input-0", "toUUID": "out", "weight": 1.0, "type": "condition"})
    return Creature.from_json({"input": 2, "output": 1, "neurons": [
        {"type": "hidden", "uuid": "h0", "bias": 0, "squash": "IDENTITY"},
        {"type": "hidden", "uuid": "h1", "bias": 0, "squash": "IDENTITY"},
        {"type": "output", "uuid": "out", "bias": 0, "squash": squash}], "synapses": synapses})


@pytest.mark.parametrize("squash,roles,y,expected", [
    # MAXIMUM(2·1, 1·0.5) = 2; error 1 goes to the winner only: h0 asked for 1/2 more
    ("MAXIMUM", (None, None), 3.0, [0.5, 0.0, 1.0]),
    # MINIMUM picks 1·0.5: h1 asked for 1/1
    ("MINIMUM", (None, None), 1.5, [0.0, 1.0, 1.0]),
    # MEAN = (2 + 0.5)/2 = 1.25; the sum must rise by 2·1, split by a² (1 : 0.25), over each weight
    ("MEAN", (None, None), 2.25, [2 * 1 / 1.25 / 2, 2 * 0.25 / 1.25 / 1, 1.0]),
    # IF: condition x0 = 1 > 0 picks the positive branch (h1, w 1): 0.5 → target 1.5
    ("IF", ("negative", "positive"), 1.5, [0.0, 1.0, 1.0]),
])
def test_aggregates_pass_their_error_through_the_inputs_they_used(squash, roles, y, expected):
    _, acts, errors = run(aggregate_over_two_hidden(squash, roles), [[1.0, 0.5]], [[y]])
    np.testing.assert_allclose(errors[0], expected, rtol=1e-6, atol=1e-7)


def test_an_exact_creature_has_zero_error_everywhere_and_activations_equal_the_forward_pass():
    c = two_layer()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)).astype(np.float32)
    Y = compile_network(c).activate(X)
    values, acts, errors = record_activations(trainable_network(c), X, Y)
    np.testing.assert_array_equal(acts[:, 1:], Y)
    assert np.abs(errors).max() < 1e-5


def dataset(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    return Dataset(X, (X[:, :1] * 0.7 + X[:, 1:] ** 2).astype(np.float32))


def test_the_parquet_recording_has_the_schema_rows_and_values_of_the_forward_pass(tmp_path):
    c, ds = two_layer(), dataset()
    out = record(c, ds, ds.id, tmp_path, sample_rate=0.3, seed=1, flush_records=64)
    table = pq.read_table(out.path)
    assert pq.read_schema(out.path).equals(SCHEMA)
    assert out.observations == 300 and out.rows == table.num_rows == 300 * (2 + 2)
    assert pq.ParquetFile(out.path).metadata.num_row_groups == math.ceil(300 / 64)
    chosen = json.loads(out.selected_indices_path.read_text())[ds.id]
    assert chosen == sorted(chosen) and len(set(chosen)) == 300
    assert chosen == choose_records(ds.records, 0.3, 1).tolist()
    rows = table.to_pydict()
    # obs_index runs over the whole recording: no collisions between row groups
    assert sorted(set(rows["obs_index"])) == list(range(300))
    assert rows["neuron_uuid"][:4] == [n.uuid for n in c.neurons] + ["input-0", "input-1"]
    X = ds.X[chosen]
    expected = compile_network(c).activate(X)[:, 0]
    acts = np.array(rows["activation"], np.float32).reshape(300, 4)
    np.testing.assert_array_equal(acts[:, 1], expected)
    np.testing.assert_array_equal(acts[:, 2:], X)                 # input rows hold the inputs
    np.testing.assert_array_equal(np.array(rows["value"], np.float32).reshape(300, 4)[:, 2:], X)
    lengths = [len(e) for e in rows["errors"]]
    assert lengths == [1, 1, 0, 0] * 300                          # inputs carry no error
    assert not (out.directory / LOCK).exists()                    # complete: unlocked
    assert Creature.from_json((out.directory / "creature.json").read_text()).structural_hash() == c.structural_hash()


def test_rows_flush_on_estimated_bytes_too(tmp_path):
    c, ds = two_layer(), dataset(200)
    # 200·2 + 4·3 = 412 bytes an observation: 4,120 bytes is a flush every 10 observations
    out = record(c, ds, ds.id, tmp_path, sample_rate=1.0, flush_records=50, flush_bytes=4120)
    assert pq.ParquetFile(out.path).metadata.num_row_groups == 20


def test_an_interrupted_recording_leaves_no_file(tmp_path):
    c, ds = two_layer(), dataset(500)
    calls = iter([False, True])
    with pytest.raises(RecordingStopped):
        record(c, ds, ds.id, tmp_path, 1.0, flush_records=100, stop=lambda: next(calls))
    assert list(tmp_path.iterdir()) == []


def test_a_short_disk_is_a_clear_error_and_leaves_nothing(tmp_path):
    c, ds = two_layer(), dataset(100)
    with pytest.raises(DiskSpaceError, match="MB free"):
        record(c, ds, ds.id, tmp_path, 1.0, min_free_bytes=1 << 62)
    assert list(tmp_path.iterdir()) == []


def test_the_timeout_keeps_what_was_recorded(tmp_path):
    c, ds = two_layer(), dataset(1000)
    out = record(c, ds, ds.id, tmp_path, 1.0, timeout_s=0, flush_records=100)
    assert out.timed_out and out.observations == 0 and out.path.exists()
    assert pq.read_table(out.path).num_rows == 0


def test_the_writer_aborts_cleanly_and_rejects_numeric_uuids(tmp_path):
    w = RecordingWriter(tmp_path / "x.parquet", ["a"], 1, 1)
    w.append(*(np.zeros((3, 1), np.float32) for _ in range(4)))
    w.abort()
    assert list(tmp_path.iterdir()) == []
    assert not valid_neuron_uuid("123") and not valid_neuron_uuid("a b") and valid_neuron_uuid("input-0")
    with pytest.raises(RecordingError, match="purely numeric"):
        RecordingWriter(tmp_path / "y.parquet", ["42"], 1, 1)


def test_orphan_sweep_removes_dead_and_unlocked_folders_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = RecordingDirectory(tmp_path, "live")
    crashed = RecordingDirectory(tmp_path, "crashed")
    (crashed.path / LOCK).write_text(str(dead.pid))
    (tmp_path / "unlocked").mkdir()
    done = RecordingDirectory(tmp_path, "done")
    done.unlock()
    removed = sweep_orphans(tmp_path)
    assert sorted(p.name for p in removed) == ["crashed", "unlocked"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done", "live"]
    assert live.path.exists()
