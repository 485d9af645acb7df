"""`neatai run --resume DIR`: an in-process run checkpoints under its --out directory; stopped by
Ctrl-C (SIGINT), SIGTERM (what timeout, a container stop and CI cancellation send) or killed
outright, it is continued from there to its stopping rule, with the
same outputs, and it ends where the same run left alone ends (the checkpoints hold the RNG)."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from commands import neatai, one_clear_line, start_neatai

GENERATIONS = 150
RUN = ("run", "--seed", "3", "--target-error", "0", "--generations", str(GENERATIONS), "--json")


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def wait_for_generations(out: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        histories = list((out / "state" / "runs").glob("*/history.jsonl"))
        if histories and len(histories[0].read_text().splitlines()) >= n and (out / "job.json").exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"no {n} generations checkpointed under {out} in {timeout}s")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_run_resumes_to_its_stopping_rule(tmp_path, how):
    out = tmp_path / "out"
    first = start_neatai(*RUN, "--out", str(out), cwd=tmp_path)
    wait_for_generations(out, 10)
    first.send_signal(how)
    stdout, stderr = first.communicate(timeout=60)
    if how != signal.SIGKILL:  # the generation ends, the results so far are written, the run is kept
        assert first.returncode == 128 + how and "Traceback" not in stderr
        assert f"continue with: neatai run --resume {out}" in stderr
        paused = last_json(stdout)
        assert paused["state"] == "interrupted" and 10 <= paused["generations"] < GENERATIONS
        assert (out / "best.json").exists()
    else:
        assert first.returncode == -signal.SIGKILL
    resumed = neatai("run", "--resume", str(out), "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = last_json(resumed.stdout)
    assert "resuming run " in resumed.stderr and summary["state"] == "exhausted"
    assert summary["generations"] == GENERATIONS and Path(summary["out"]) == out.resolve()
    for name in ("best.json", "progress.png", "network.png"):
        assert (out / name).stat().st_size > 0
    assert not (out / "state").exists()  # the run ended: its checkpoints go, job.json stays
    whole = last_json(neatai(*RUN, "--out", str(tmp_path / "whole"), cwd=tmp_path).stdout)
    for key in ("best_error", "evaluations", "synapses", "hidden_neurons"):
        assert summary[key] == whole[key], key
    again = neatai("run", "--resume", str(out), cwd=tmp_path)
    assert "has ended" in one_clear_line(again, 2)


@pytest.mark.parametrize("args, message", [
    (["--resume", "empty"], "--resume empty: no job.json there"),
    (["--resume", "out", "--dataset", "xor.csv"], "--dataset cannot change it"),
    (["--out", "out"], "--out out: holds an earlier run (job.json); continue it with --resume out"),
])
def test_resume_refusals_are_one_line(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "job.json").write_text("{}")
    assert message in one_clear_line(neatai("run", *args, cwd=tmp_path, timeout=60), 2)


def test_resume_refuses_data_that_changed(tmp_path):
    csv = tmp_path / "xor.csv"
    csv.write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    first = start_neatai("run", "--dataset", str(csv), "--seed", "1", "--target-error", "0", "--generations",
                         "100000", "--out", "out", cwd=tmp_path)
    wait_for_generations(tmp_path / "out", 3)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert first.returncode == 130
    csv.write_text("a,b,y\n0,0,1\n0,1,1\n1,0,1\n1,1,0\n")
    proc = neatai("run", "--resume", "out", cwd=tmp_path)
    assert "xor.csv changed since run" in one_clear_line(proc, 2)
    assert (tmp_path / "out" / "state").is_dir()  # kept: the data may come back
