"""`neatai run` as a user runs it: a subprocess that starts the services, solves XOR and leaves
best.json, progress.png and network.png; bad input ends with one clear line, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neatai.creature import Creature
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KEYS = {"solved", "generations", "evaluations", "best_score", "best_error", "wall_seconds", "hidden_neurons",
        "synapses", "out"}


def neatai(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return subprocess.run([sys.executable, "-m", "neatai.app.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_solved_with_outputs(proc: subprocess.CompletedProcess, out: Path) -> dict:
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert KEYS <= set(summary)
    assert summary["solved"] is True and summary["best_error"] <= 0.025
    assert summary["evaluations"] > 0 and summary["generations"] >= 1
    assert Path(summary["out"]).resolve() == out.resolve()
    best = Creature.from_json((out / "best.json").read_text())
    assert (best.input, best.output) == (2, 1)
    assert summary["synapses"] == len(best.synapses) and summary["hidden_neurons"] == best.hidden_count
    for png in ("progress.png", "network.png"):
        data = (out / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    return summary


def test_run_json_solves_xor_and_writes_results(tmp_path):
    proc = neatai("run", "--json", "--seed", "1", "--out", str(tmp_path / "out"), cwd=tmp_path)
    first = assert_solved_with_outputs(proc, tmp_path / "out")
    # Same seed, same run.
    again = neatai("run", "--json", "--seed", "1", "--out", str(tmp_path / "again"), cwd=tmp_path)
    second = assert_solved_with_outputs(again, tmp_path / "again")
    for key in ("generations", "evaluations", "best_error", "synapses"):
        assert first[key] == second[key]


def test_default_output_directory_is_runs_timestamp(tmp_path):
    proc = neatai("run", "--json", "--seed", "2", cwd=tmp_path)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    out = Path(summary["out"])
    assert out.parent == (tmp_path / "runs").resolve() and out.name.startswith("20")
    assert_solved_with_outputs(proc, out)


def test_run_on_deployed_services(tmp_path):
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
    evaluator = start_evaluator(EvaluatorConfig(threads=1), loopback)
    evolver = start_evolver([evaluator.address], tmp_path / "state", loopback)
    try:
        csv = tmp_path / "xor.csv"
        csv.write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
        proc = neatai("run", "--evolver", evolver.address, "--dataset", str(csv), "--targets", "y", "--seed", "3",
                      "--json", "--out", str(tmp_path / "out"), cwd=tmp_path)
        summary = assert_solved_with_outputs(proc, tmp_path / "out")
        assert evolver.manager.get(summary["run_id"]).state.name == "SOLVED"
    finally:
        evolver.stop(0)
        evaluator.stop(0)


@pytest.mark.parametrize("args, message", [
    (["--dataset", "missing.csv"], "no such file"),
    (["--dataset", "xor.csv", "--targets", "nope"], "unknown target column 'nope'"),
    (["--dataset", "data.bin"], "inputs"),
    (["--population", "0"], "--population must be at least 1"),
    (["--evolver", "127.0.0.1:1"], "UNAVAILABLE"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    (tmp_path / "xor.csv").write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    (tmp_path / "data.bin").write_bytes(b"\x00" * 12)
    proc = neatai("run", *args, "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_watching_outlives_streams_cut_by_connection_ageing(tmp_path):
    import grpc

    from neatai.datasets import xor
    from neatai.datasets_servicer import upload_dataset
    from neatai.app.runner import _watch
    from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc

    evaluator = start_evaluator(EvaluatorConfig(threads=1), ServerConfig(host="127.0.0.1", grace_s=0))
    # The server closes every connection after ~0.5 s: a run of 80 generations spans several streams.
    evolver = start_evolver([evaluator.address], tmp_path / "state", ServerConfig(
        host="127.0.0.1", grace_s=0, max_connection_age_s=0.3, max_connection_age_grace_s=0.2))
    channel = grpc.insecure_channel(evolver.address)
    try:
        stub = evolver_pb2_grpc.EvolverServiceStub(channel)
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=30).dataset_id
        config = evolver_pb2.RunConfig(population_size=50, seed=1, target_error=0.0, iterations=80)
        run_id = stub.StartRun(evolver_pb2.StartRunRequest(config=config, dataset_id=dataset_id), timeout=30).run_id
        resumed_from = []

        class Counting:  # the stub, recording where each WatchRun call starts
            def WatchRun(self, request):
                resumed_from.append(request.from_generation)
                return stub.WatchRun(request)

        generations = [m.report.generation for m in _watch(Counting(), run_id, retries=20)]
        assert generations == list(range(1, 81))
        assert len(resumed_from) > 1 and resumed_from[0] == 0 and resumed_from == sorted(resumed_from)
    finally:
        channel.close()
        evolver.stop(0)
        evaluator.stop(0)
