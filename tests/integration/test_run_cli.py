"""`neatai run` as a user runs it: a subprocess that starts the services, solves XOR and leaves
best.json, progress.png and network.png; bad input ends with one clear line, never a traceback."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from neatai.creature import Creature
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig

from commands import neatai, one_clear_line

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KEYS = {"solved", "generations", "evaluations", "best_score", "best_error", "wall_seconds", "hidden_neurons",
        "synapses", "out"}


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
    (["--population", "0"], "--population: must be at least 2, got 0"),
    (["--evolver", "127.0.0.1:1"], "UNAVAILABLE"),
    (["--seed", "-1"], "--seed: must be in [0, 2^64), got -1"),
    (["--dataset", "xor.csv", "--targets", "y,y"], "target column 'y' is named twice"),
    (["--target-error", "-0.1"], "--target-error: must be >= 0, got -0.1"),
    (["--validation-fraction", "1"], "--validation-fraction must be in [0, 1)"),
    (["--output-squash", "NOPE"], "--output-squash: unknown output squash 'NOPE'"),
    (["--elitism", "50"], "--elitism: must be between 0 and populationSize - 1 (49), got 50"),
    (["--mutation-rate", "2"], "--mutation-rate: must be in (0.001, 1], got 2.0"),
    (["--compatibility-threshold", "0"], "--compatibility-threshold: must be positive, got 0.0"),
    (["--cost-of-growth", "-1"], "--cost-of-growth: must be >= 0, got -1.0"),
    (["--generations", "0"], "--generations: must be at least 1, got 0"),
    (["--task", "classification", "--dataset", "reals.csv"], "classification needs one-hot target columns"),
    (["--test", "wide.csv", "--dataset", "xor.csv"], "wide.csv: 3 inputs"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    (tmp_path / "xor.csv").write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    (tmp_path / "data.bin").write_bytes(b"\x00" * 12)
    (tmp_path / "reals.csv").write_text("a,y\n" + "".join(f"{i},{i / 7}\n" for i in range(12)))
    (tmp_path / "wide.csv").write_text("a,b,c,y\n0,0,0,0\n")
    proc = neatai("run", *args, "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=60)
    assert message in one_clear_line(proc, 2)
    assert not (tmp_path / "out").exists()


def test_watching_outlives_streams_cut_by_connection_ageing(tmp_path):
    import grpc

    from neatai.datasets import xor
    from neatai.datasets_servicer import upload_dataset
    from neatai.app.client import Watch
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

            def GetRun(self, request, timeout):
                return stub.GetRun(request, timeout=timeout)

        generations = [m.report.generation for m in Watch(Counting(), run_id, patience_s=30)]
        assert generations == list(range(1, 81))
        assert len(resumed_from) > 1 and resumed_from[0] == 0 and resumed_from == sorted(resumed_from)
    finally:
        channel.close()
        evolver.stop(0)
        evaluator.stop(0)


# ---- real data: held-out evaluation, task defaults, folded scaling ---------------------------------

def write_csv(path: Path, X, y, names) -> Path:
    import numpy as np

    rows = np.column_stack([X, y])
    path.write_text(",".join([*names, "target"]) + "\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in rows))
    return path


def sklearn_csv(tmp_path: Path, name: str) -> tuple[Path, object]:
    from sklearn import datasets

    data = getattr(datasets, f"load_{name}")()
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    return write_csv(tmp_path / f"{name}.csv", data.data, data.target, names), data


def test_classification_holds_out_validation_picks_defaults_and_exports_raw_units(tmp_path):
    import numpy as np

    from neatai.evaluator import compile_network

    csv, wine = sklearn_csv(tmp_path, "wine")
    proc = neatai("run", "--dataset", str(csv), "--seed", "1", "--timeout", "30", "--json", "--test", str(csv),
                  "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for line in ("task: classification (inferred from the targets)", "3 one-hot outputs",
                 "cost: CROSS_ENTROPY (classification)", "output squash: SOFTMAX (classification)",
                 "validation: 36 of 178 records held out", "standardise: inputs on the training part"):
        assert line in proc.stderr
    assert summary["task"] == "classification" and summary["held_out"] is True
    assert {"validation_accuracy", "validation_error", "validation_per_class_accuracy", "train_accuracy",
            "test_accuracy"} <= set(summary)
    assert summary["validation_accuracy"] > 0.8  # the constant guess is 0.40
    # best.json reads raw wine measurements: on every record it scores what the parts scored.
    best = Creature.from_json((tmp_path / "out" / "best.json").read_text())
    predicted = compile_network(best).activate(wine.data.astype(np.float32)).argmax(axis=1)
    whole = (predicted == wine.target).mean()
    assert whole == pytest.approx((142 * summary["train_accuracy"] + 36 * summary["validation_accuracy"]) / 178)
    assert summary["test_accuracy"] == pytest.approx(whole)


def test_regression_reports_r2_and_rmse_in_the_targets_units(tmp_path):
    import numpy as np

    from neatai.evaluator import compile_network

    csv, diabetes = sklearn_csv(tmp_path, "diabetes")
    proc = neatai("run", "--dataset", str(csv), "--seed", "2", "--generations", "60", "--json",
                  "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "cost: MSE (regression)" in proc.stderr and "output squash: IDENTITY (regression)" in proc.stderr
    assert summary["task"] == "regression" and summary["validation_r2"] > 0.1
    assert "validation_accuracy" not in summary and summary["validation_error"] > 0
    best = Creature.from_json((tmp_path / "out" / "best.json").read_text())
    predicted = compile_network(best).activate(diabetes.data.astype(np.float32))[:, 0]
    mse = ((predicted - diabetes.target) ** 2).mean()  # raw units: the target's spread is ~77
    n_val = round(0.2 * 442)
    combined = ((442 - n_val) * summary["train_rmse"] ** 2 + n_val * summary["validation_rmse"] ** 2) / 442
    assert mse == pytest.approx(combined, rel=1e-3) and 30 < mse ** 0.5 < 77


def test_every_choice_can_be_overridden_and_tiny_data_is_evaluated_whole(tmp_path):
    csv, _ = sklearn_csv(tmp_path, "iris")
    proc = neatai("run", "--dataset", str(csv), "--seed", "3", "--generations", "3", "--cost", "MSE",
                  "--output-squash", "TANH", "--no-standardise", "--initial-weights", "neat-ai",
                  "--validation-fraction", "0.3", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for line in ("cost: MSE (given)", "output squash: TANH (given)", "initial weights: neat-ai (given)",
                 "standardise: no", "validation: 45 of 150 records held out (fraction 0.3"):
        assert line in proc.stdout
    best = Creature.from_json((tmp_path / "out" / "best.json").read_text())
    assert [n.squash for n in best.neurons if n.type == "output"] == ["TANH"] * 3
    xor_run = neatai("run", "--seed", "1", "--out", str(tmp_path / "xor"), cwd=tmp_path)
    assert xor_run.returncode == 0, xor_run.stderr
    assert "all 4 records are evaluated whole" in xor_run.stdout and "evaluated on the whole dataset" in xor_run.stdout
    assert "cost: MSE (xor's classic setup" in xor_run.stdout


def test_target_errors_above_one_stop_a_regression_in_its_own_units(tmp_path):
    csv, _ = sklearn_csv(tmp_path, "diabetes")
    # Raw MSE of a fresh network on diabetes is in the tens of thousands: 1e5 is reached at once.
    proc = neatai("run", "--dataset", str(csv), "--no-standardise", "--target-error", "1e5", "--seed", "1", "--json",
                  "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["solved"] is True and summary["generations"] == 1 and 1 < summary["best_error"] <= 1e5


@pytest.mark.parametrize("out, message", [
    ("/proc/neatai-out", "--out /proc/neatai-out: cannot write in /proc"),
    ("file.txt/out", "is not a directory"),
])
def test_an_unusable_out_directory_is_refused_before_the_run(tmp_path, out, message):
    (tmp_path / "file.txt").write_text("")
    proc = neatai("run", "--out", out, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "seed" not in proc.stdout  # refused before anything ran


def test_a_finished_run_whose_results_cannot_be_written_lands_in_a_fallback(tmp_path):
    """--out passes the check before the run (the in-process run even checkpoints there), but
    best.json cannot be written (a directory took its name): the results are written elsewhere
    and the message says where."""
    (tmp_path / "out" / "best.json").mkdir(parents=True)
    proc = neatai("run", "--seed", "1", "--target-error", "0", "--generations", "40", "--json",
                  "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    fallback = Path(summary["out"])
    assert fallback != (tmp_path / "out").resolve()
    assert f"the results are in {fallback} instead" in proc.stderr and "Traceback" not in proc.stderr
    assert Creature.from_json((fallback / "best.json").read_text()).input == 2
    assert (fallback / "progress.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("service", ["evaluator", "evolver"])
@pytest.mark.parametrize("flag", ["--port", "--metrics-port"])
def test_a_port_in_use_is_one_clear_line(tmp_path, service, flag):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        ports = {"--port": "0", "--metrics-port": "none", flag: port}
        extra = ["--state-dir", str(tmp_path / "state"), "--evaluators", "127.0.0.1:1"] if service == "evolver" else []
        proc = neatai("serve", service, "--host", "127.0.0.1", "--port", ports["--port"],
                      "--metrics-port", ports["--metrics-port"], *extra, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert f"neatai serve {service}: " in proc.stderr and port in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_without_a_terminal_progress_is_log_lines_not_silence(tmp_path):
    proc = neatai("run", "--seed", "4", "--target-error", "0", "--generations", "12", "--out", str(tmp_path / "out"),
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("generation ")]
    assert lines[0].startswith("generation 1: best error ") and lines[-1].startswith("generation 12: ")
    assert "validation error -" in lines[0] and "evaluations/s" in lines[0]  # xor: nothing held out
    assert "nan" not in proc.stderr
    assert (tmp_path / "out" / "network.svg").exists() and (tmp_path / "out" / "progress.svg").exists()
