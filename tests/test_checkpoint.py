"""Checkpoints: a reader sees the last complete checkpoint, never a torn one."""
import os

import pytest

from neatai.datasets import xor
from neatai.evolver import checkpoint as cp
from neatai.evolver.checkpoint import CheckpointError, CheckpointStore, StateDirBusy


def test_save_and_load_round_trip(tmp_path):
    store = CheckpointStore(tmp_path)
    state = {"generation": 3, "history": [{"generation": g, "best_error": 0.1 * g} for g in range(4)]}
    store.save("run-1", state)
    assert store.load("run-1") == state
    assert store.run_ids() == ["run-1"]


def test_dataset_round_trip_keeps_its_id(tmp_path):
    store = CheckpointStore(tmp_path)
    ds = xor()
    store.save_dataset("r", ds)
    back = store.load_dataset("r")
    assert back.id == ds.id and back.feature_names == ds.feature_names and back.name == "xor"


def test_crash_while_writing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save("r", {"generation": 1})

    def crash(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(cp.os, "fsync", crash)
    with pytest.raises(OSError):
        store.save("r", {"generation": 2, "big": "x" * 100_000})
    monkeypatch.undo()
    assert store.load("r") == {"generation": 1}
    assert not list((tmp_path / "runs" / "r").glob(".*.tmp"))


def test_crash_before_replace_leaves_the_old_file_in_place(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save("r", {"generation": 1})
    monkeypatch.setattr(cp.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        store.save("r", {"generation": 2})
    monkeypatch.undo()
    assert store.load("r") == {"generation": 1}


def test_torn_temp_file_left_by_a_killed_process_is_ignored_and_removed(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("r", {"generation": 5})
    torn = tmp_path / "runs" / "r" / ".run.json.gz.abc123.tmp"
    torn.write_bytes(b'{"generation": 6, "hist')  # the process died mid-write
    assert store.load("r") == {"generation": 5}
    assert not torn.exists()


def test_unreadable_checkpoint_is_reported_and_skipped(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("good", {"generation": 1})
    bad = tmp_path / "runs" / "bad"
    bad.mkdir()
    (bad / "run.json.gz").write_bytes(b"not gzip")
    with pytest.raises(CheckpointError):
        store.load("bad")
    assert dict(store.load_all()) == {"good": {"generation": 1}}


def test_run_ids_are_safe_directory_names(tmp_path):
    store = CheckpointStore(tmp_path)
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ValueError):
            store.run_dir(bad)
    assert os.path.basename(store.run_dir("run_1.a-b")) == "run_1.a-b"


def test_history_is_appended_and_read_back_to_the_named_length(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("r", {"generation": 0})
    for g in range(1, 4):
        store.append_history("r", {"generation": g})
    assert store.load_history("r", 3) == [{"generation": g} for g in (1, 2, 3)]
    assert store.load_history("r", 0) == []


@pytest.mark.parametrize("tail", [b'{"generation":4}\n', b'{"generation":4', b'{"gen'])
def test_history_beyond_the_checkpoint_is_cut_off(tmp_path, tail):
    # A crash after appending generation 4 (whole or torn) but before the checkpoint named it.
    store = CheckpointStore(tmp_path)
    store.save("r", {"history_length": 3})
    for g in range(1, 4):
        store.append_history("r", {"generation": g})
    path = tmp_path / "runs" / "r" / "history.jsonl"
    with open(path, "ab") as f:
        f.write(tail)
    assert store.load_history("r", 3) == [{"generation": g} for g in (1, 2, 3)]
    store.append_history("r", {"generation": 4})  # the resumed run appends after the cut
    assert store.load_history("r", 4)[-1] == {"generation": 4}


def test_history_shorter_than_the_checkpoint_is_an_error(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("r", {})
    store.append_history("r", {"generation": 1})
    with pytest.raises(CheckpointError, match="holds 1 complete entries, the checkpoint names 2"):
        store.load_history("r", 2)


def test_one_state_directory_one_evolver(tmp_path):
    first = CheckpointStore(tmp_path)
    with pytest.raises(StateDirBusy, match="in use by another evolver"):
        CheckpointStore(tmp_path)
    first.close()
    CheckpointStore(tmp_path).close()  # free again once the holder lets go


def test_reports_with_non_finite_numbers_survive_the_history(tmp_path):
    # A generation in which every creature failed has infinite errors and no finite mean.
    from neatai.evolver.runs import GenerationReport, RunState

    store = CheckpointStore(tmp_path)
    store.save("r", {})
    report = GenerationReport("r", 1, RunState.RUNNING, float("-inf"), float("inf"), float("nan"), float("nan"),
                              species=1, evaluations=10, hidden_neurons=0, synapses=2, phase_seconds={"evaluate": 0.5})
    store.append_history("r", report.to_dict())
    back = GenerationReport.from_dict(store.load_history("r", 1)[0])
    assert (back.best_score, back.best_error) == (float("-inf"), float("inf"))
    assert back.mean_error != back.mean_error  # NaN
    assert (back.state, back.evaluations, back.phase_seconds) == (RunState.RUNNING, 10, {"evaluate": 0.5})
