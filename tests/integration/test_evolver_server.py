"""The evolver end to end: real evolver and evaluator servers on 127.0.0.1:0, real channels, a
deadline on every call. Runs solve XOR through the evaluator pool, stream every generation,
survive a crash of the evolver (resuming to the same result as an uninterrupted run) and a dead
evaluator endpoint (no batch lost), and every bad request gets a precise status code."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from neatai.creature import Creature
from neatai.datasets import xor
from neatai.datasets_servicer import upload_dataset
from neatai.errors import field_violations
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.checkpoint import CheckpointStore, StateDirBusy
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evaluator_pb2, evolver_pb2, evolver_pb2_grpc

T = 30  # seconds: the deadline of every unary call
S = evolver_pb2


def loopback() -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, grace_s=0)


@pytest.fixture(scope="module")
def evaluator():
    running = start_evaluator(EvaluatorConfig(threads=2, memory_check_interval_s=60), loopback())
    yield running
    running.stop(0)


@pytest.fixture
def evolver(evaluator, tmp_path):
    running = start_evolver([evaluator.address], tmp_path / "state", loopback(), rpc_timeout=10)
    yield running
    running.stop(0)


def read_checkpoint(state_dir: Path, run_id: str) -> dict:
    store = CheckpointStore(state_dir)  # takes the directory's lock: only while no evolver holds it
    try:
        return store.load(run_id)
    finally:
        store.close()


class Client:
    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(address)
        self.stub = evolver_pb2_grpc.EvolverServiceStub(self.channel)
        self.dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(self.channel), xor(), timeout=T).dataset_id

    def start(self, run_id: str = "", **config) -> str:
        request = S.StartRunRequest(config=S.RunConfig(**config), dataset_id=self.dataset_id, run_id=run_id)
        return self.stub.StartRun(request, timeout=T).run_id

    def watch(self, run_id: str, from_generation: int = 0) -> list:
        return [m.report for m in self.stub.WatchRun(S.WatchRunRequest(run_id=run_id, from_generation=from_generation),
                                                      timeout=120)]

    def get(self, run_id: str):
        return self.stub.GetRun(S.GetRunRequest(run_id=run_id), timeout=T).run

    def wait_finished(self, run_id: str, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(run_id)
            if run.state not in (S.RUN_STATE_RUNNING, S.RUN_STATE_PAUSED):
                return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s")

    def close(self):
        self.channel.close()


@pytest.fixture
def client(evolver):
    c = Client(evolver.address)
    yield c
    c.close()


# A run that cannot reach its target: it ends EXHAUSTED after exactly `iterations` generations.
LONG = dict(population_size=30, seed=7, target_error=0.0, iterations=25)


def test_a_run_solves_xor_through_the_evaluator(client):
    run_id = client.start(seed=1, population_size=50, target_error=0.025, iterations=300)
    reports = client.watch(run_id)
    assert [r.generation for r in reports] == list(range(1, len(reports) + 1))  # every generation, no gaps
    assert all(r.run_id == run_id for r in reports)
    last = reports[-1]
    assert last.state == S.RUN_STATE_SOLVED and last.best_error <= 0.025
    assert set(last.phase_seconds) >= {"evaluate", "checkpoint"}
    run = client.get(run_id)
    assert run.state == S.RUN_STATE_SOLVED and run.latest.generation == last.generation
    assert run.config.seed == 1 and run.dataset_id == client.dataset_id
    assert Creature.from_proto(run.best).input == 2
    # The winner exported as NEAT-AI JSON, best first.
    exported = client.stub.ExportPopulation(S.ExportPopulationRequest(run_id=run_id, limit=3), timeout=T)
    assert len(exported.creatures_json) == 3 and exported.generation == last.generation
    assert Creature.from_json(exported.creatures_json[0]).output == 1
    # Every evaluation went through the pool.
    stats = client.stub.GetEvolverStats(S.GetEvolverStatsRequest(), timeout=T)
    assert sum(e.creatures for e in stats.evaluators) == last.evaluations
    assert stats.pools[0].total_workers == 1
    assert {c.name for c in stats.caches} >= {"distance", "datasets"}


def test_a_run_seeded_with_a_winner_solves_in_its_first_generation(client):
    first = client.wait_finished(client.start(seed=1, population_size=50, target_error=0.025, iterations=300))
    assert first.state == S.RUN_STATE_SOLVED
    request = S.StartRunRequest(config=S.RunConfig(seed=99, population_size=50, target_error=0.025, iterations=300),
                                dataset_id=client.dataset_id, seed_creatures=[first.best])
    seeded = client.wait_finished(client.stub.StartRun(request, timeout=T).run_id)
    assert seeded.state == S.RUN_STATE_SOLVED and seeded.latest.generation == 1
    assert seeded.latest.best_error <= first.latest.best_error


def test_watch_replays_history_from_any_generation(client):
    run_id = client.start(**LONG)
    late = client.watch(run_id, from_generation=20)
    assert [r.generation for r in late] == list(range(20, 26))
    assert late[-1].state == S.RUN_STATE_EXHAUSTED
    assert [r.generation for r in client.watch(run_id)] == list(range(1, 26))
    assert {r.run_id for r in client.stub.ListRuns(S.ListRunsRequest(), timeout=T).runs} == {run_id}


def crash_in_generation_9(evaluator, state_dir: Path, method: str, run_id: str, config: dict) -> None:
    """Start the run on an evolver, hold the 9th generation's call to the pool's `method` and kill
    the evolver there: mid-run, without a final checkpoint (8 generations on disk)."""
    first = start_evolver([evaluator.address], state_dir, loopback())
    gate, calls, call = threading.Event(), [], getattr(first.pool, method)
    setattr(first.pool, method, lambda *a, **k: (calls.append(1), len(calls) > 8 and gate.wait(30), call(*a, **k))[-1])
    c = Client(first.address)
    c.start(run_id=run_id, **config)
    for message in c.stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=120):
        if message.report.generation >= 8:
            break
    c.close()
    threading.Timer(0.2, gate.set).start()
    first.kill()
    on_disk = read_checkpoint(state_dir, run_id)
    assert on_disk["state"] == "RUNNING" and on_disk["history_length"] == 8


def test_a_killed_evolver_resumes_its_run_to_the_same_result(evaluator, tmp_path):
    # Reference: the same run, never interrupted.
    reference = start_evolver([evaluator.address], tmp_path / "a", loopback())
    c = Client(reference.address)
    try:
        expected = c.wait_finished(c.start(run_id="same", **LONG))
    finally:
        c.close()
        reference.stop(0)

    crash_in_generation_9(evaluator, tmp_path / "b", "evaluate", "same", LONG)

    second = start_evolver([evaluator.address], tmp_path / "b", loopback())
    c = Client(second.address)
    try:
        resumed = c.wait_finished("same")
        history = c.watch("same")
    finally:
        c.close()
        second.stop(0)
    assert resumed.state == expected.state == S.RUN_STATE_EXHAUSTED
    assert resumed.latest.generation == expected.latest.generation == 25
    assert resumed.latest.evaluations == expected.latest.evaluations
    assert resumed.latest.best_error == expected.latest.best_error
    assert Creature.from_proto(resumed.best).to_dict() == Creature.from_proto(expected.best).to_dict()
    assert [r.generation for r in history] == list(range(1, 26))


def test_imported_creatures_are_checkpointed_before_the_call_returns(evaluator, tmp_path):
    """A migrant that arrives while a generation is being scored waits for the next one; a crash
    in between must not lose it."""
    first = start_evolver([evaluator.address], tmp_path / "s", loopback())
    gate, evaluate = threading.Event(), first.pool.evaluate
    first.pool.evaluate = lambda *a, **k: (gate.wait(30), evaluate(*a, **k))[-1]
    c = Client(first.address)
    try:
        run_id = c.start(run_id="migrants", **LONG)
        migrant = _xor_solver()
        taken = c.stub.ImportCreatures(S.ImportCreaturesRequest(run_id=run_id, creatures=[migrant.to_proto()]),
                                       timeout=T).accepted
        assert taken == 1
        on_disk = first.checkpoints.load(run_id)  # what a restart would read
        assert on_disk["evolution"]["asked"] and on_disk["history_length"] == 0  # generation 1 in flight
        assert [Creature.from_json(d).structural_hash() for d in on_disk["evolution"]["imports"]] == \
               [migrant.structural_hash()]
    finally:
        c.close()
        gate.set()
        first.kill()


def _xor_solver() -> Creature:
    return Creature.from_json({
        "input": 2, "output": 1,
        "neurons": [{"type": "output", "uuid": "output-0", "bias": 0.09, "squash": "SINE"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.76},
                     {"fromUUID": "input-1", "toUUID": "output-0", "weight": 1.16}],
    })


def test_a_run_checkpointed_as_running_but_already_done_ends_cleanly_on_resume(evaluator, tmp_path):
    # E.g. its time budget ran out while the evolver was down.
    first = start_evolver([evaluator.address], tmp_path / "s", loopback())
    c = Client(first.address)
    expected = c.wait_finished(c.start(run_id="done", **{**LONG, "iterations": 3}))
    c.close()
    first.stop(0)
    store = CheckpointStore(tmp_path / "s")
    store.save("done", {**store.load("done"), "state": "RUNNING"})
    store.close()
    second = start_evolver([evaluator.address], tmp_path / "s", loopback())
    c = Client(second.address)
    try:
        run = c.wait_finished("done")
        assert run.state == S.RUN_STATE_EXHAUSTED and run.latest.evaluations == expected.latest.evaluations
    finally:
        c.close()
        second.stop(0)


def _dead_address() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


def test_a_dead_evaluator_endpoint_loses_no_batch(evaluator, tmp_path):
    dead = _dead_address()
    running = start_evolver([dead, evaluator.address], tmp_path / "s", loopback(), rpc_timeout=5)
    c = Client(running.address)
    try:
        run = c.wait_finished(c.start(**{**LONG, "iterations": 10, "evaluation_batch_size": 4}))
        assert run.state == S.RUN_STATE_EXHAUSTED and run.latest.generation == 10
        stats = {e.target: e for e in c.stub.GetEvolverStats(S.GetEvolverStatsRequest(), timeout=T).evaluators}
        assert stats[dead].creatures == 0 and stats[dead].failures >= 1
        assert stats[evaluator.address].creatures == run.latest.evaluations
    finally:
        c.close()
        running.stop(0)


def test_prometheus_shows_the_pool_the_caches_and_the_runs(client, evolver):
    from neatai.metrics import exposition

    run_id = client.start(**{**LONG, "iterations": 3})
    client.wait_finished(run_id)
    text = exposition()
    assert 'neatai_pool_workers{pool="evaluators",state="idle"}' in text
    assert 'neatai_cache_entries{cache="distance"}' in text
    assert f'neatai_evolution_generation{{run="{run_id}"}} 3.0' in text
    assert f'neatai_evolution_evaluations_total{{run="{run_id}"}}' in text
    assert f'neatai_evolution_phase_seconds{{phase="evaluate",run="{run_id}"}}' in text


def test_ended_runs_beyond_the_export_bound_leave_the_metrics(client, evolver, monkeypatch):
    """Each run is a label value; an evolver's state directory collects runs for ever."""
    from neatai.evolver import server as evolver_server
    from neatai.metrics import exposition

    monkeypatch.setattr(evolver_server, "ENDED_RUNS_EXPORTED", 1)
    first = client.start(**{**LONG, "iterations": 1})
    client.wait_finished(first)
    second = client.start(**{**LONG, "iterations": 1})
    client.wait_finished(second)
    text = exposition()
    assert f'neatai_evolution_generation{{run="{second}"}}' in text
    assert f'run="{first}"' not in text
    assert 'neatai_evolution_runs{state="exhausted"}' in text  # counted by state all the same


def test_cancelled_watchers_free_their_server_threads(evaluator, tmp_path):
    running = start_evolver([evaluator.address], tmp_path / "s",
                            ServerConfig(host="127.0.0.1", port=0, grace_s=0, max_workers=2))
    # The run stalls after its first generation: watchers wait for a report that does not come.
    release, calls, evaluate = threading.Event(), [], running.pool.evaluate

    def stall_after_first(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            release.wait(30)
        return evaluate(*args, **kwargs)

    running.pool.evaluate = stall_after_first
    c = Client(running.address)
    try:
        run_id = c.start(population_size=30, seed=3, target_error=0.0)  # endless
        for _ in range(4):  # more streams than server threads: each must be released on cancel
            stream = c.stub.WatchRun(S.WatchRunRequest(run_id=run_id))
            next(stream)
            stream.cancel()
        assert c.get(run_id).latest.generation == 1  # a server thread was free to answer
    finally:
        release.set()
        c.stub.StopRun(S.StopRunRequest(run_id=run_id), timeout=T)
        c.close()
        running.stop(0)


def test_the_initial_population_can_be_exported_before_it_is_scored(evaluator, tmp_path):
    running = start_evolver([evaluator.address], tmp_path / "s", loopback())
    release, evaluate = threading.Event(), running.pool.evaluate

    def stall(*args, **kwargs):
        release.wait(30)
        return evaluate(*args, **kwargs)

    running.pool.evaluate = stall
    c = Client(running.address)
    try:
        run_id = c.start(population_size=12, seed=3, target_error=0.0, iterations=2)
        exported = c.stub.ExportPopulation(S.ExportPopulationRequest(run_id=run_id), timeout=T)
        assert exported.generation == 0 and len(exported.creatures_json) == 12
        assert all(Creature.from_json(j).input == 2 for j in exported.creatures_json)
    finally:
        release.set()
        c.wait_finished(run_id)
        c.close()
        running.stop(0)


def test_a_second_evolver_cannot_share_a_state_directory(evaluator, evolver, tmp_path):
    with pytest.raises(StateDirBusy):
        start_evolver([evaluator.address], tmp_path / "state", loopback())


def test_evolver_command_line_arguments():
    from neatai.evolver.server import parse_args

    args = parse_args(["--evaluators", "dns:///evaluator:50051", "--metrics-port", "none"])
    assert args.evaluators == ["dns:///evaluator:50051"] and args.metrics_port is None
    assert (args.port, args.state_dir) == (50052, "./state")
    assert parse_args(["--evaluators", "a:1,b:2"]).evaluators == ["a:1", "b:2"]
    assert (args.train_timeout, parse_args(["--train-timeout", "90"]).train_timeout) == (600.0, 90.0)
    for bad in (["--evaluators", "nohost"], ["--rpc-timeout", "0"], ["--train-timeout", "-1"]):
        with pytest.raises(SystemExit) as e:
            parse_args(bad)
        assert e.value.code == 2


def test_stop_run(client):
    run_id = client.start(population_size=30, seed=3, target_error=0.0)  # would run forever
    for message in client.stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=60):
        if message.report.generation >= 2:
            break
    assert client.stub.StopRun(S.StopRunRequest(run_id=run_id), timeout=T).state == S.RUN_STATE_STOPPED
    run = client.get(run_id)
    assert run.state == S.RUN_STATE_STOPPED and "stopped" in run.message
    with pytest.raises(grpc.RpcError) as e:
        client.stub.ImportCreatures(S.ImportCreaturesRequest(run_id=run_id, creatures=[run.best]), timeout=T)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_import_creatures_into_a_running_run(client, fixtures_dir):
    run_id = client.start(population_size=30, seed=3, target_error=0.0, iterations=200)
    for message in client.stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=60):
        break  # the first generation is scored: the population can be exported
    xor_json = (fixtures_dir / "XOR.json").read_text()
    feedback_off = Creature.from_json(xor_json)
    try:
        if feedback_off.recurrent:
            # The fixture has a self synapse: a forward-only run refuses it with a field violation.
            with pytest.raises(grpc.RpcError) as e:
                client.stub.ImportCreatures(S.ImportCreaturesRequest(run_id=run_id, creatures_json=[xor_json]),
                                            timeout=T)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field_violations(e.value)[0][0] == "creatures[0].synapses"
        best = client.stub.ExportPopulation(S.ExportPopulationRequest(run_id=run_id, limit=1), timeout=T)
        accepted = client.stub.ImportCreatures(
            S.ImportCreaturesRequest(run_id=run_id, creatures_json=list(best.creatures_json)), timeout=T).accepted
        assert accepted == 1
    finally:
        client.stub.StopRun(S.StopRunRequest(run_id=run_id), timeout=T)


def test_islands_send_their_best_to_peer_runs(evaluator, tmp_path):
    peer = start_evolver([evaluator.address], tmp_path / "peer", loopback())
    home = start_evolver([evaluator.address], tmp_path / "home", loopback())
    p, h = Client(peer.address), Client(home.address)
    try:
        p.start(run_id="island", population_size=30, seed=5, target_error=0.0, iterations=400)
        islands = S.IslandConfig(peers=[peer.address, _dead_address()], migration_interval=2, migration_fraction=0.1)
        h.wait_finished(h.start(run_id="island", population_size=30, seed=6, target_error=0.0, iterations=8,
                                islands=islands))
        migrator = home.manager.get("island").migrator
        deadline = time.monotonic() + 20
        while migrator.sent < 4 * 3 and time.monotonic() < deadline:  # 4 exchanges of 3 creatures
            time.sleep(0.05)
        assert migrator.sent == 12 and migrator.failures >= 1  # the dead peer is logged, not fatal
        assert h.get("island").state == S.RUN_STATE_EXHAUSTED
    finally:
        p.stub.StopRun(S.StopRunRequest(run_id="island"), timeout=T)
        p.close()
        h.close()
        home.stop(0)
        peer.stop(0)


# ---- bad requests ---------------------------------------------------------------------------------


def test_bad_config_is_invalid_argument_with_field_violations(client):
    with pytest.raises(grpc.RpcError) as e:
        client.start(population_size=1, mutation_rate=2.0)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {f for f, _ in field_violations(e.value)}
    assert {"config.populationSize", "config.mutationRate"} <= fields


def test_missing_and_unknown_dataset(client):
    with pytest.raises(grpc.RpcError) as e:
        client.stub.StartRun(S.StartRunRequest(config=S.RunConfig(seed=1)), timeout=T)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("dataset_id", "required: register the dataset with DatasetService first") in field_violations(e.value)
    with pytest.raises(grpc.RpcError) as e:
        client.stub.StartRun(S.StartRunRequest(dataset_id="sha256:" + "0" * 64), timeout=T)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_seed_creatures_must_fit_the_dataset(client, fixtures_dir):
    narx = Creature.from_json((fixtures_dir / "NARX.json").read_text())
    with pytest.raises(grpc.RpcError) as e:
        client.stub.StartRun(S.StartRunRequest(config=S.RunConfig(seed=1, feedback_loop=True),
                                               dataset_id=client.dataset_id, seed_creatures=[narx.to_proto()]),
                             timeout=T)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(f.startswith("seed_creatures[0].") for f, _ in field_violations(e.value))
    broken = json.loads((fixtures_dir / "XOR.json").read_text())
    broken["synapses"][0]["toUUID"] = "nowhere"
    with pytest.raises(grpc.RpcError) as e:
        client.stub.ImportCreatures(S.ImportCreaturesRequest(run_id="x", creatures_json=[json.dumps(broken)]),
                                    timeout=T)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(e.value)[0][0].startswith("creatures_json[0].synapses[0]")


def test_a_draining_evolver_refuses_new_runs_as_unavailable(client, evolver):
    evolver.manager.close()  # what SIGTERM does first, before the server stops
    with pytest.raises(grpc.RpcError) as e:
        client.start(**LONG)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in e.value.details()


def test_taken_and_malformed_run_ids(client):
    client.start(run_id="taken", **{**LONG, "iterations": 2})
    with pytest.raises(grpc.RpcError) as e:
        client.start(run_id="taken", **LONG)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as e:
        client.start(run_id="../escape", **LONG)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(e.value)[0][0] == "run_id"


@pytest.mark.parametrize("call", [
    lambda s: s.GetRun(S.GetRunRequest(run_id="nope"), timeout=T),
    lambda s: s.StopRun(S.StopRunRequest(run_id="nope"), timeout=T),
    lambda s: s.ExportPopulation(S.ExportPopulationRequest(run_id="nope"), timeout=T),
    lambda s: list(s.WatchRun(S.WatchRunRequest(run_id="nope"), timeout=T)),
])
def test_unknown_run_is_not_found(client, call):
    with pytest.raises(grpc.RpcError) as e:
        call(client.stub)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in e.value.details()
    assert client.stub.ListRuns(S.ListRunsRequest(), timeout=T) is not None  # still serving


# ---- a real crash: `neatai serve evolver` in a subprocess, SIGKILLed mid-run ----------------------


def _serve_evolver(port: int, evaluator: str, state: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.Popen(
        [sys.executable, "-m", "neatai.app.cli", "serve", "evolver", "--host", "127.0.0.1", "--port", str(port),
         "--metrics-port", "none", "--evaluators", evaluator, "--state-dir", str(state), "--grace", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _connect(address: str, proc: subprocess.Popen) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            with grpc.insecure_channel(address) as ch:
                grpc.channel_ready_future(ch).result(timeout=1)
            return Client(address)
        except grpc.FutureTimeoutError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "evolver did not start"


def test_sigkilled_evolver_process_resumes_to_the_same_result(evaluator, tmp_path):
    config = dict(population_size=30, seed=11, target_error=0.0, iterations=120)
    reference = start_evolver([evaluator.address], tmp_path / "ref", loopback())
    c = Client(reference.address)
    try:
        expected = c.wait_finished(c.start(run_id="crash", **config))
    finally:
        c.close()
        reference.stop(0)

    port = int(_dead_address().rsplit(":", 1)[1])
    address = f"127.0.0.1:{port}"
    proc = _serve_evolver(port, evaluator.address, tmp_path / "state")
    try:
        c = _connect(address, proc)
        c.start(run_id="crash", **config)
        for message in c.stub.WatchRun(S.WatchRunRequest(run_id="crash"), timeout=120):
            if message.report.generation >= 5:
                break
        c.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    on_disk = read_checkpoint(tmp_path / "state", "crash")
    killed_at = on_disk["history_length"]

    proc = _serve_evolver(port, evaluator.address, tmp_path / "state")
    try:
        c = _connect(address, proc)
        resumed = c.wait_finished("crash")
        history = c.watch("crash")
        c.close()
        proc.send_signal(signal.SIGTERM)  # graceful drain: exit status 0
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert resumed.latest.generation == expected.latest.generation == 120
    assert resumed.latest.evaluations == expected.latest.evaluations
    assert resumed.latest.best_error == expected.latest.best_error
    assert Creature.from_proto(resumed.best).to_dict() == Creature.from_proto(expected.best).to_dict()
    assert [r.generation for r in history] == list(range(1, 121))
    assert 5 <= killed_at < 120, "the kill should land mid-run"


def test_a_run_with_a_validation_dataset_hands_back_the_best_there(evaluator, evolver, tmp_path):
    """Iris, 120 records to evolve on, 30 held out: every report carries the held-out error and
    accuracy of the run's best creature, which is the one with the lowest error there."""
    import numpy as np
    from sklearn.datasets import load_iris

    from neatai.datasets import Dataset
    from neatai.evaluator import compile_network, evaluate_in_process
    from neatai.tasks import Scaling, split, task_metrics

    iris = load_iris()
    X, Y = iris.data.astype(np.float32), np.eye(3, dtype=np.float32)[iris.target]
    train, held = split(len(X), 0.2, seed=1, strata=iris.target)
    scale = Scaling.fit(X[train])
    channel = grpc.insecure_channel(evolver.address)
    try:
        stub = evolver_pb2_grpc.EvolverServiceStub(channel)
        datasets = dataset_pb2_grpc.DatasetServiceStub(channel)
        ids = [upload_dataset(datasets, Dataset(scale.apply(X[part]), Y[part]), timeout=T).dataset_id
               for part in (train, held)]
        config = S.RunConfig(population_size=30, seed=2, target_error=0.0, iterations=15, cost=6,  # CROSS_ENTROPY
                             initial_weights="symmetric", fixed_output_squash="SOFTMAX")
        run_id = stub.StartRun(S.StartRunRequest(config=config, dataset_id=ids[0], validation_dataset_id=ids[1]),
                               timeout=T).run_id
        reports = [m.report for m in stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=120)]
        run = stub.GetRun(S.GetRunRequest(run_id=run_id), timeout=T).run
        with pytest.raises(grpc.RpcError) as e:
            stub.StartRun(S.StartRunRequest(config=config, dataset_id=ids[0], validation_dataset_id="sha256:00"),
                          timeout=T)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND and "sha256:00" in e.value.details()
    finally:
        channel.close()
    assert len(reports) == 15
    held_errors = [r.validation_error for r in reports]
    assert all(r.HasField("validation_accuracy") and not r.HasField("validation_r2") for r in reports)
    assert held_errors == sorted(held_errors, reverse=True)  # the pick only ever improves there
    assert run.task == S.TASK_CLASSIFICATION and run.validation_dataset_id == ids[1]
    best = Creature.from_proto(run.best)
    assert all(n.squash == "SOFTMAX" for n in best.neurons if n.type == "output")
    errors, _ = evaluate_in_process([best], scale.apply(X[held]), Y[held], cost="CROSS_ENTROPY")
    assert errors[0] == pytest.approx(reports[-1].validation_error, rel=1e-6)
    accuracy = task_metrics("classification", compile_network(best).activate(scale.apply(X[held])), Y[held])["accuracy"]
    assert accuracy == pytest.approx(reports[-1].validation_accuracy) and accuracy > 0.6
    saved = evolver.checkpoints.load(run_id)  # what a restarted evolver resumes from
    assert saved["validation"]["dataset_id"] == ids[1] and saved["validation"]["error"] == reports[-1].validation_error


# A memetic run: after every generation its best fine-tune fraction is trained on the evaluator
# (with synthetic synapses), and quantum fine-tuned copies of the fittest join it.
MEMETIC = dict(LONG, memetic=True, quantum_adjust=True, backpropagation=evaluator_pb2.TrainOptions(
    iterations=3, initial_learning_rate=0.3, synthetic_synapses=True, max_per_target=10))


def test_a_memetic_run_trains_every_generation_and_resumes_to_the_same_result(evaluator, tmp_path):
    from neatai.metrics import exposition

    reference = start_evolver([evaluator.address], tmp_path / "a", loopback(), train_timeout=120)
    assert reference.pool.train_timeout == 120
    c = Client(reference.address)
    try:
        expected = c.wait_finished(c.start(run_id="memetic", **MEMETIC))
        reports = c.watch("memetic")
        plain = c.watch(c.start(run_id="plain", **LONG))
        text = exposition()
        trained = sum(e.creatures for e in c.stub.GetEvolverStats(S.GetEvolverStatsRequest(), timeout=T).evaluators)
    finally:
        c.close()
        reference.stop(0)
    # generations 1-24 train (the 25th ends the run: nothing is bred after it)
    assert [r.trained > 0 for r in reports] == [True] * 24 + [False]
    assert all("train" in r.phase_seconds for r in reports)
    assert sum(r.trained_improved for r in reports) > 0
    assert sum(r.quantum_adjusted for r in reports) > 0 and all(r.quantum_adjusted <= r.trained for r in reports)
    assert reports[0].fine_tune_fraction == 0.2 and reports[0].trained == 6  # base fraction of 30
    assert all(0.1 <= r.fine_tune_fraction <= 0.4 for r in reports[:-1])
    assert len({r.fine_tune_fraction for r in reports[:-1]}) > 1  # it adapts to the success rate
    assert all(r.trained == 0 and "train" not in r.phase_seconds for r in plain)
    # the last generation's figures as evolution metrics, for memetic runs only
    assert 'neatai_evolution_trained_creatures{run="memetic"} 0.0' in text  # the 25th breeds nothing
    assert 'neatai_evolution_fine_tune_fraction{run="memetic"}' in text
    assert 'neatai_evolution_quantum_adjusted_creatures{run="memetic"}' in text
    assert 'neatai_evolution_trained_creatures{run="plain"}' not in text
    # every Train and Evaluate went through the pool: creatures scored plus creatures trained
    assert trained == expected.latest.evaluations + plain[-1].evaluations + sum(r.trained for r in reports)

    crash_in_generation_9(evaluator, tmp_path / "b", "train", "memetic", MEMETIC)

    second = start_evolver([evaluator.address], tmp_path / "b", loopback())
    c = Client(second.address)
    try:
        resumed = c.wait_finished("memetic")
        history = c.watch("memetic")
    finally:
        c.close()
        second.stop(0)
    assert resumed.config.memetic and resumed.config.backpropagation.iterations == 3
    assert resumed.config.quantum_adjust and resumed.config.backpropagation.synthetic_synapses
    assert resumed.latest.evaluations == expected.latest.evaluations
    assert resumed.latest.best_error == expected.latest.best_error
    assert Creature.from_proto(resumed.best).to_dict() == Creature.from_proto(expected.best).to_dict()
    assert [(r.trained, r.trained_improved, r.fine_tune_fraction, r.quantum_adjusted, r.best_score)
            for r in history] == \
        [(r.trained, r.trained_improved, r.fine_tune_fraction, r.quantum_adjusted, r.best_score) for r in reports]


def test_bad_memetic_options_are_field_violations(client):
    with pytest.raises(grpc.RpcError) as e:
        client.start(memetic=True, fine_tune_population=S.FineTunePopulation(min_population_fraction=0.5),
                     backpropagation=evaluator_pb2.TrainOptions(batch_size=0, seed=3, max_per_target=0))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(e.value)} == {
        "config.fineTunePopulation.minPopulationFraction", "config.backpropagation.batchSize",
        "config.backpropagation.seed", "config.backpropagation.maxPerTarget"}
    with pytest.raises(grpc.RpcError) as e:
        client.start(quantum_adjust=True)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(field_violations(e.value)) == {
        "config.quantumAdjust": "is a memetic option: set memetic = true as well (or leave quantumAdjust off)"}
