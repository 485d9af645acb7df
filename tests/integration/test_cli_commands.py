"""The rest of the `neatai` command as users run it: `--config run.toml` and the evolution flags,
`--version`, `predict` on a run's best.json, and `runs` / `watch` against a served evolver
(real servers on loopback). Bad input ends in one clear line and a non-zero exit."""
from __future__ import annotations

import json
import re
import signal
import time
import tomllib
from dataclasses import fields
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.datasets import xor
from neatai.datasets_servicer import upload_dataset
from neatai.evaluator import compile_network
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.config import EvolverConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc

from commands import neatai, one_clear_line, start_neatai

ROOT = Path(__file__).resolve().parents[2]
XOR_CSV = "a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"


@pytest.fixture
def evolver(tmp_path):
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
    evaluator = start_evaluator(EvaluatorConfig(threads=1), loopback)
    served = start_evolver([evaluator.address], tmp_path / "state", loopback)
    yield served
    served.stop(0)
    evaluator.stop(0)


def start_run(evolver, generations: int) -> str:
    import grpc

    with grpc.insecure_channel(evolver.address) as channel:
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=30).dataset_id
        config = evolver_pb2.RunConfig(population_size=30, seed=1, target_error=0.0, iterations=generations)
        return evolver_pb2_grpc.EvolverServiceStub(channel).StartRun(
            evolver_pb2.StartRunRequest(config=config, dataset_id=dataset_id), timeout=30).run_id


# ---- --config and the evolution flags ------------------------------------------------------------

def test_the_config_file_sets_every_option_and_flags_override_it(tmp_path, evolver):
    (tmp_path / "xor.csv").write_text(XOR_CSV)
    (tmp_path / "run.toml").write_text("populationSize = 30\nelitism = 3\nmutationRate = 0.5\niterations = 50\n"
                                       "targetError = 0.0\nseed = 7\ncostOfGrowth = 1e-6\n"
                                       "[compatibility]\ncp = 1.5\nC3 = 0.2\n")
    proc = neatai("run", "--config", "run.toml", "--evolver", evolver.address, "--dataset", "xor.csv",
                  "--generations", "4", "--elitism", "2", "--compatibility-threshold", "2.5", "--train", "--json",
                  "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["generations"] == 4 and summary["seed"] == 7 and "drawn" not in proc.stderr
    config = evolver.manager.get(summary["run_id"]).config  # what the evolver runs with
    assert (config.population_size, config.elitism, config.mutation_rate, config.iterations) == (30, 2, 0.5, 4)
    assert (config.cp, config.c3, config.cost_of_growth, config.target_error, config.seed) == (2.5, 0.2, 1e-6, 0.0, 7)
    assert config.memetic  # --train
    trained = [r.trained for r in evolver.manager.get(summary["run_id"]).history]
    assert sum(trained) > 0  # the generations were fine-tuned on the evaluators


def option_paths(options: dict) -> set[str]:
    return {f"{k}.{s}" for k, v in options.items() if isinstance(v, dict) for s in v} | {
        k for k, v in options.items() if not isinstance(v, dict)}


def test_the_example_config_names_every_option_and_runs(tmp_path):
    # Its commented-out options too: uncommented, the file sets every field of EvolverConfig.
    text = re.sub(r"^# (\w+ = )", r"\1", (ROOT / "examples" / "run.toml").read_text(), flags=re.M)
    options = tomllib.loads(text)
    config = EvolverConfig.from_dict(options)
    assert all(getattr(config, f.name) is not None for f in fields(config))
    assert option_paths(options) == option_paths(config.to_dict())
    proc = neatai("run", "--config", str(ROOT / "examples" / "run.toml"), "--generations", "2", "--seed", "1",
                  "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("toml, message", [
    ("populationSize = 30\nfoo = 1\n", "run.toml: foo: unknown option"),
    ("[compatibility]\nXX = 1\n", "run.toml: compatibility.XX: unknown option"),
    ('elitism = "many"\n', "run.toml: elitism: expected an integer, got 'many'"),
    ("mutationRate = 7\n", "run.toml: mutationRate: must be in (0.001, 1], got 7"),
    ('costName = "NOPE"\n', "run.toml: costName: unknown cost 'NOPE'"),
    ("compatibility = 3\n", "run.toml: compatibility: expected an object, got int"),
    ("populationSize = \n", "run.toml: not valid TOML"),
])
def test_a_bad_config_file_is_one_line_naming_the_key(tmp_path, toml, message):
    (tmp_path / "run.toml").write_text(toml)
    proc = neatai("run", "--config", "run.toml", "--out", "out", cwd=tmp_path, timeout=60)
    assert message in one_clear_line(proc, 2)
    assert not (tmp_path / "out").exists()


def test_a_missing_config_file_is_one_line(tmp_path):
    assert "--config nope.toml: no such file" in one_clear_line(neatai("run", "--config", "nope.toml", cwd=tmp_path), 2)


def test_help_shows_the_common_options_and_version_is_the_package_version(tmp_path):
    shown = neatai("run", "--help", cwd=tmp_path).stdout
    for flag in ("--config", "--elitism", "--mutation-rate", "--mutation-amount", "--compatibility-threshold",
                 "--species-threshold", "--cost-of-growth", "--population", "--generations", "--resume", "--train"):
        assert flag in shown
    proc = neatai("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"neatai {version('neatai')}"
    usage = neatai("--help", cwd=tmp_path).stdout
    assert all(f"neatai {c}" in usage for c in ("predict", "runs", "watch", "--version"))


# ---- neatai predict --------------------------------------------------------------------------------

@pytest.fixture
def trained(tmp_path) -> Path:
    """best.json of a run on xor.csv (inputs a, b; target y)."""
    (tmp_path / "xor.csv").write_text(XOR_CSV)
    proc = neatai("run", "--dataset", "xor.csv", "--seed", "1", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "out" / "best.json"


def read_csv(text: str) -> tuple[list[str], np.ndarray]:
    header, *rows = text.strip().splitlines()
    return header.split(","), np.array([[float(v) for v in r.split(",")] for r in rows])


def test_predict_writes_the_outputs_under_the_training_targets_names(tmp_path, trained):
    import pyarrow as pa
    import pyarrow.parquet as pq

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    expected = compile_network(Creature.from_json(trained.read_text())).activate(X)
    proc = neatai("predict", str(trained), "xor.csv", cwd=tmp_path)  # the target column is ignored
    assert proc.returncode == 0, proc.stderr
    names, Y = read_csv(proc.stdout)
    assert names == ["y"] and np.allclose(Y, expected, atol=1e-6)
    assert ((Y[:, 0] > 0.5) == [False, True, True, False]).all()  # it learnt XOR
    # Columns are picked by name: another order, no target, Parquet.
    (tmp_path / "swapped.csv").write_text("b,a\n0,0\n1,0\n0,1\n1,1\n")
    pq.write_table(pa.table({"b": X[:, 1], "a": X[:, 0]}), tmp_path / "swapped.parquet")
    np.savez(tmp_path / "x.npz", X=X)
    for data in ("swapped.csv", "swapped.parquet", "x.npz"):
        proc = neatai("predict", str(trained), data, "--out", f"{data}.out.csv", cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout == "", proc.stderr
        names, Y = read_csv((tmp_path / f"{data}.out.csv").read_text())
        assert names == ["y"] and np.allclose(Y, expected, atol=1e-6)


def test_predict_with_an_untagged_neat_ai_creature_takes_columns_in_order(tmp_path):
    (tmp_path / "in.csv").write_text("p,q\n0,1\n1,1\n")
    proc = neatai("predict", str(ROOT / "tests" / "fixtures" / "neat-ai" / "XOR.json"), "in.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names, Y = read_csv(proc.stdout)
    assert names == ["output-0"] and Y.shape == (2, 1)


@pytest.mark.parametrize("creature, data, content, message", [
    ("best", "three.csv", "a,c,d\n0,0,0\n", "three.csv: no column 'b'; the creature's inputs are ['a', 'b']"),
    ("XOR", "three.csv", "a,b,c\n0,0,0\n", "three.csv: 3 columns, the creature takes 2 inputs"),
    ("best", "wide.npz", None, "wide.npz: X has 3 columns, the creature takes 2 inputs"),
    ("best", "missing.csv", "", "missing.csv: no such file"),
    ("best", "data.txt", "a,b\n", "data.txt: unknown format '.txt'"),
    ("nope", "three.csv", "a,b\n0,0\n", "nope.json: no such file"),
    ("bad", "three.csv", "a,b\n0,0\n", "bad.json: invalid creature"),
])
def test_predict_refuses_a_mismatch_in_one_line(tmp_path, trained, creature, data, content, message):
    files = {"best": trained, "XOR": ROOT / "tests" / "fixtures" / "neat-ai" / "XOR.json",
             "nope": tmp_path / "nope.json", "bad": tmp_path / "bad.json"}
    (tmp_path / "bad.json").write_text('{"input": 2}')
    if content:
        (tmp_path / data).write_text(content)
    elif content is None:
        np.savez(tmp_path / data, X=np.zeros((2, 3)))
    proc = neatai("predict", str(files[creature]), data, cwd=tmp_path, timeout=60)
    assert message in one_clear_line(proc, 2)


# ---- neatai runs, neatai watch ---------------------------------------------------------------------

def test_runs_lists_and_watch_follows_a_run_to_its_end(tmp_path, evolver):
    run_id = start_run(evolver, generations=25)
    proc = neatai("watch", run_id, "--evolver", evolver.address, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(f"{run_id}: exhausted at generation 25, best error ")
    assert "generation 25: best error" in proc.stderr  # the progress lines of neatai run
    table = neatai("runs", "--evolver", evolver.address, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.strip().splitlines()
    assert header.split() == ["RUN", "STATE", "GENERATION", "BEST", "ERROR"]
    assert row.split()[:3] == [run_id, "exhausted", "25"]
    rows = [json.loads(line) for line in neatai("runs", "--json", "--evolver", evolver.address,
                                                cwd=tmp_path).stdout.splitlines()]
    assert rows == [{"run_id": run_id, "state": "exhausted", "generation": 25,
                     "best_error": evolver.manager.get(run_id).latest.best_error}]


def test_ctrl_c_stops_watching_not_the_run(tmp_path, evolver):
    run_id = start_run(evolver, generations=100_000)
    watching = start_neatai("watch", run_id, "--evolver", evolver.address, cwd=tmp_path)
    assert watching.stderr.readline().startswith("generation ")
    watching.send_signal(signal.SIGINT)
    _, stderr = watching.communicate(timeout=30)
    assert watching.returncode == 130 and f"stopped watching; run {run_id} goes on" in stderr
    assert "Traceback" not in stderr
    assert evolver.manager.get(run_id).state.name == "RUNNING"
    evolver.manager.stop(run_id)


@pytest.mark.parametrize("command", [["runs"], ["watch", "run-1"]])
def test_an_unreachable_evolver_is_one_line(tmp_path, command):
    proc = neatai(*command, "--evolver", "127.0.0.1:1", cwd=tmp_path, timeout=60)
    assert "cannot reach an evolver at 127.0.0.1:1" in one_clear_line(proc, 1)


def test_watching_an_unknown_run_is_one_line(tmp_path, evolver):
    proc = neatai("watch", "no-such-run", "--evolver", evolver.address, cwd=tmp_path, timeout=60)
    assert f"no run 'no-such-run' on {evolver.address}" in one_clear_line(proc, 2)
    empty = neatai("runs", "--evolver", evolver.address, cwd=tmp_path)
    assert empty.returncode == 0 and empty.stdout.strip() == f"no runs on {evolver.address}"


def test_ctrl_c_stops_a_run_on_deployed_services(tmp_path, evolver):
    """Not resumable there (job.json and the checkpoints are the evolver's): the run is stopped."""
    running = start_neatai("run", "--evolver", evolver.address, "--seed", "1", "--target-error", "0",
                           "--generations", "100000", "--json", "--out", "out", cwd=tmp_path)
    assert running.stderr.readline().startswith("seed: 1")
    while not evolver.manager.list() or evolver.manager.list()[0].latest is None:
        time.sleep(0.02)
    running.send_signal(signal.SIGINT)
    stdout, stderr = running.communicate(timeout=60)
    assert running.returncode == 1 and "stopped by request" in stderr and "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["state"] == "stopped" and (tmp_path / "out" / "best.json").exists()
    assert evolver.manager.get(summary["run_id"]).state.name == "STOPPED"


# ---- outages: the evolver restarts, an evaluator dies ---------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_on_deployed_services_rides_out_an_evolver_drain_and_restart(tmp_path):
    """The evolver drains (SIGTERM) and comes back on its state after longer than the old client
    waited (≈3 s): the command re-attaches, says so in one line each way, and ends normally."""
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
    port = _free_port()
    evaluator = start_evaluator(EvaluatorConfig(threads=1), loopback)
    served = start_evolver([evaluator.address], tmp_path / "state", ServerConfig(host="127.0.0.1", port=port))
    try:
        # Ended by its time budget (evolution time: the outage does not count), long after the drain.
        running = start_neatai("run", "--evolver", served.address, "--seed", "1", "--target-error", "0",
                               "--generations", "1000000", "--timeout", "8", "--json", "--out", "out", cwd=tmp_path)
        while not served.manager.list() or served.manager.list()[0].latest is None or \
                served.manager.list()[0].latest.generation < 5:
            time.sleep(0.02)
        assert not served.manager.list()[0].state.finished
        served.stop(5)  # what SIGTERM does: runs end their generation, streams end, the port closes
        time.sleep(4)
        served = start_evolver([evaluator.address], tmp_path / "state", ServerConfig(host="127.0.0.1", port=port))
        stdout, stderr = running.communicate(timeout=120)
        assert running.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert "neatai run: lost the evolver" in stderr and "neatai run: re-attached to run" in stderr, stderr
        summary = json.loads(stdout.strip().splitlines()[-1])
        assert summary["state"] == "exhausted" and summary["generations"] > 5
    finally:
        served.stop(0)
        evaluator.stop(0)


def test_run_tells_the_user_when_an_evaluator_dies(tmp_path):
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
    evaluators = [start_evaluator(EvaluatorConfig(threads=1), loopback) for _ in range(2)]
    served = start_evolver([e.address for e in evaluators], tmp_path / "state", loopback)
    try:
        running = start_neatai("run", "--evolver", served.address, "--seed", "1", "--target-error", "0",
                               "--generations", "1000000", "--timeout", "6", "--population", "30", "--json", "--out",
                               "out", cwd=tmp_path)
        while not served.manager.list() or served.manager.list()[0].latest is None:
            time.sleep(0.02)
        assert not served.manager.list()[0].state.finished
        evaluators[1].stop(0)
        stdout, stderr = running.communicate(timeout=120)
        assert running.returncode == 0, stderr
        # The status is the failed call's: UNAVAILABLE, or CANCELLED when a batch was in flight as it stopped.
        assert f"evaluator {evaluators[1].address}: " in stderr
        assert "(unreachable; its batches go to the others)" in stderr and "Traceback" not in stderr
        assert json.loads(stdout.strip().splitlines()[-1])["state"] == "exhausted"
    finally:
        served.stop(0)
        for e in evaluators:
            e.stop(0)


def test_squashes_restrict_every_neuron_of_the_run(tmp_path, evolver):
    proc = neatai("run", "--evolver", evolver.address, "--squashes", "LOGISTIC", "--generations", "5",
                  "--population", "40", "--seed", "3", "--json", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = evolver.manager.get(json.loads(proc.stdout.strip().splitlines()[-1])["run_id"])
    assert run.config.allowed_squashes == ("LOGISTIC",)
    assert {n.squash for c in run.population_best_first() for n in c.neurons if n.squash} == {"LOGISTIC"}
    bad = neatai("run", "--squashes", "LOGISTIC,NOPE", "--out", "out2", cwd=tmp_path, timeout=60)
    assert "squashBudget.allowedSquashes[1]: 'NOPE' is not a squash" in one_clear_line(bad, 2)
