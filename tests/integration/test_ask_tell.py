"""Client-computed fitness over gRPC: StartRun without a dataset, Ask leases creatures, Tell
scores them by id in any order; clients share a generation, a vanished client's creatures are
offered again, stale and repeated scores are ignored, and a run resumed from its checkpoint
mid-generation ends exactly as the uninterrupted one. Real evolver servers on loopback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from neatai.client import evolve, join
from neatai.creature import Creature
from neatai.datasets import xor
from neatai.datasets_servicer import upload_dataset
from neatai.errors import field_violations
from neatai.evaluator import compile_network
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evolver_pb2 as S, evolver_pb2_grpc

T = 30
ROOT = Path(__file__).resolve().parents[2]
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([0, 1, 1, 0], np.float32)


def xor_fitness(creature: Creature) -> float:
    """neat-python's XOR fitness, 4 - SSE (module level: the process pool pickles it)."""
    out = compile_network(creature).activate(X)[:, 0]
    return 4.0 - float(np.sum((out - Y) ** 2))


def client_config(**extra) -> S.RunConfig:
    config = S.RunConfig(**{"population_size": 30, "seed": 5, "target_error": -3.9, "iterations": 40, **extra})
    config.client_fitness.inputs, config.client_fitness.outputs = 2, 1
    return config


def loopback() -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, grace_s=0)


@pytest.fixture(scope="module")
def evaluator():  # evolvers need one; client-scored runs never call it
    running = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60), loopback())
    yield running
    running.stop(0)


@pytest.fixture
def evolver(evaluator, tmp_path):
    running = start_evolver([evaluator.address], tmp_path / "state", loopback(), rpc_timeout=5)
    yield running
    running.stop(0)


@pytest.fixture
def stub(evolver):
    channel = grpc.insecure_channel(evolver.address)
    yield evolver_pb2_grpc.EvolverServiceStub(channel)
    channel.close()


def score_all(stub, run_id: str, asked) -> S.TellResponse:
    return stub.Tell(S.TellRequest(run_id=run_id, scores=[
        S.CreatureScore(id=a.id, fitness=xor_fitness(Creature.from_proto(a.creature))) for a in asked]), timeout=T)


def test_evolve_solves_xor_with_fitness_computed_in_a_process_pool(evolver):
    result = evolve(xor_fitness, evolver=evolver.address, inputs=2, outputs=1, processes=2, batch_size=25,
                    config={"populationSize": 50, "seed": 3, "targetError": -3.9, "iterations": 150})
    assert result.state == "SOLVED" and result.best_fitness >= 3.9
    assert xor_fitness(result.best) >= 3.9  # the evolver's best is what the client scored
    assert result.evaluations >= 50 and result.generations >= 1


def test_clients_share_a_generation_and_tell_in_any_order(stub):
    run_id = stub.StartRun(S.StartRunRequest(config=client_config()), timeout=T).run_id
    first = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=12, wait_seconds=5), timeout=T)
    second = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=100, wait_seconds=5), timeout=T)
    assert first.generation == second.generation == 1 and first.lease_seconds == 30
    ids = [a.id for a in first.creatures] + [a.id for a in second.creatures]
    assert len(first.creatures) == 12 and len(ids) == len(set(ids)) == 30  # disjoint, the whole generation
    empty = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=5, wait_seconds=0), timeout=T)
    assert not empty.creatures and not empty.done  # all lent out: nothing to give yet
    told = score_all(stub, run_id, list(reversed(second.creatures)))  # out of order
    assert (told.accepted, told.ignored, told.generation) == (18, 0, 1)
    again = score_all(stub, run_id, second.creatures[:3])  # told twice: the first score stays
    assert (again.accepted, again.ignored) == (0, 3)
    done = score_all(stub, run_id, first.creatures)
    assert (done.accepted, done.generation) == (12, 2)  # this call completed generation 1
    stale = score_all(stub, run_id, first.creatures[:2])
    assert (stale.accepted, stale.ignored) == (0, 2)
    nxt = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=100, wait_seconds=5), timeout=T)
    assert nxt.generation == 2 and nxt.creatures and all(a.id.startswith("2-") for a in nxt.creatures)
    report = next(iter(stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=T))).report
    assert report.generation == 1 and report.evaluations == 30


def test_a_lease_that_runs_out_is_offered_again(stub):
    config = client_config()
    config.client_fitness.lease_seconds = 0.5
    run_id = stub.StartRun(S.StartRunRequest(config=config), timeout=T).run_id
    lent = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=30, wait_seconds=5), timeout=T)
    t0 = time.monotonic()
    again = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=30, wait_seconds=5), timeout=T)  # waits for expiry
    assert time.monotonic() - t0 >= 0.3
    assert [a.id for a in again.creatures] == [a.id for a in lent.creatures]
    assert again.creatures[0].creature == lent.creatures[0].creature


CLIENT_THAT_DIES = """
import sys, time, grpc
from neatai.v1 import evolver_pb2 as S, evolver_pb2_grpc
stub = evolver_pb2_grpc.EvolverServiceStub(grpc.insecure_channel(sys.argv[1]))
asked = stub.Ask(S.AskRequest(run_id=sys.argv[2], max_creatures=20, wait_seconds=5), timeout=30)
print(len(asked.creatures), flush=True)
time.sleep(600)  # scoring ... killed before it tells anything
"""


def test_a_client_that_dies_mid_batch_loses_nothing(stub, evolver):
    config = client_config()
    config.client_fitness.lease_seconds = 1.0
    run_id = stub.StartRun(S.StartRunRequest(config=config), timeout=T).run_id
    doomed = subprocess.Popen([sys.executable, "-c", CLIENT_THAT_DIES, evolver.address, run_id],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert doomed.stdout.readline().strip() == "20"  # it holds 20 of the 30
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    result = join(run_id, xor_fitness, evolver=evolver.address, processes=0)
    assert result.state == "SOLVED"
    reports = [m.report for m in stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=T)]
    assert reports[0].evaluations == 30  # generation 1 was scored whole


def test_resumed_mid_generation_the_run_ends_exactly_as_left_alone(evaluator, tmp_path):
    def run(state_dir: Path, interrupt_at: int | None) -> list:
        server = start_evolver([evaluator.address], state_dir, loopback(), rpc_timeout=5)
        channel = grpc.insecure_channel(server.address)
        stub = evolver_pb2_grpc.EvolverServiceStub(channel)
        config = client_config(iterations=8)
        config.target_error = -10.0  # never solved: all 8 generations
        run_id = stub.StartRun(S.StartRunRequest(config=config, run_id="resume-me"), timeout=T).run_id
        interrupted, told_before = False, set()
        while True:
            asked = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=10, wait_seconds=5), timeout=T)
            if asked.done:
                break
            if interrupted and told_before:  # the first Ask after the restart
                assert not told_before & {a.id for a in asked.creatures}  # told scores were kept
                told_before = set()
            told = score_all(stub, run_id, asked.creatures)
            if interrupt_at is not None and asked.generation == interrupt_at and told.generation == interrupt_at:
                told_before = {a.id for a in asked.creatures}
                channel.close()
                server.kill()  # a crash with 10 or 20 of the generation's 30 scores told (checkpointed)
                server = start_evolver([evaluator.address], state_dir, loopback(), rpc_timeout=5)
                channel = grpc.insecure_channel(server.address)
                stub = evolver_pb2_grpc.EvolverServiceStub(channel)
                interrupt_at, interrupted = None, True
        info = stub.GetRun(S.GetRunRequest(run_id=run_id), timeout=T).run
        reports = [(m.report.generation, m.report.best_score, m.report.evaluations)
                   for m in stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=T)]
        channel.close()
        server.stop(0)
        return [reports, info.best.SerializeToString(deterministic=True), interrupted]

    resumed, alone = run(tmp_path / "a", interrupt_at=4), run(tmp_path / "b", interrupt_at=None)
    assert resumed[2] and not alone[2]
    assert resumed[:2] == alone[:2] and len(alone[0]) == 8


def test_bad_asks_and_tells_are_precise_statuses(stub, evolver):
    def code(call, *args):
        with pytest.raises(grpc.RpcError) as e:
            call(*args, timeout=T)
        return e.value

    run_id = stub.StartRun(S.StartRunRequest(config=client_config()), timeout=T).run_id
    e = code(stub.Ask, S.AskRequest(run_id=run_id, max_creatures=0, wait_seconds=100))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(e)} == {"max_creatures", "wait_seconds"}
    assert code(stub.Ask, S.AskRequest(run_id="nope", max_creatures=1)).code() == grpc.StatusCode.NOT_FOUND
    e = code(stub.Tell, S.TellRequest(run_id=run_id, scores=[S.CreatureScore(id="1-0", fitness=float("nan")),
                                                              S.CreatureScore(id="x", fitness=1.0)]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(e)} == {"scores[0].fitness", "scores[1].id"}
    e = code(stub.StartRun, S.StartRunRequest(config=client_config(memetic=True)))
    assert {f for f, _ in field_violations(e)} == {"config.memetic"}
    e = code(stub.StartRun, S.StartRunRequest(config=client_config(), dataset_id="sha256:" + "0" * 64))
    assert [f for f, _ in field_violations(e)] == ["dataset_id"] and "must be empty" in e.details() + str(
        field_violations(e))
    dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(grpc.insecure_channel(evolver.address)), xor(),
                                timeout=T).dataset_id
    on_data = stub.StartRun(S.StartRunRequest(config=S.RunConfig(seed=1), dataset_id=dataset_id), timeout=T).run_id
    e = code(stub.Ask, S.AskRequest(run_id=on_data, max_creatures=1))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "clientFitness" in e.details()
    failed = stub.Ask(S.AskRequest(run_id=run_id, max_creatures=30, wait_seconds=5), timeout=T)
    told = stub.Tell(S.TellRequest(run_id=run_id, scores=[S.CreatureScore(id=a.id, failure="simulation crashed")
                                                          for a in failed.creatures]), timeout=T)
    assert told.accepted == 30  # every creature failed: the run goes on
    assert stub.Ask(S.AskRequest(run_id=run_id, max_creatures=1, wait_seconds=5), timeout=T).generation == 2
