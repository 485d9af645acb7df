"""Limits, enforced before anything is allocated for the request: each one configurable and
answered RESOURCE_EXHAUSTED with a google.rpc.QuotaFailure naming it (real servers on loopback);
the server goes on answering. `neatai run --population 1000000000` is refused in one line at once
(it used to answer UNKNOWN after 40 s of MemoryError)."""
from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from neatai.creature import Creature, Limits, Neuron, Synapse
from neatai.datasets import Dataset, DatasetLimits, xor
from neatai.datasets_servicer import upload_dataset
from neatai.errors import quota_violations
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.runs import RunLimits
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc, evolver_pb2, evolver_pb2_grpc

from commands import neatai, one_clear_line

T = 30
LOOPBACK = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
SMALL = Limits(max_neurons=4, max_synapses=8, max_creatures_per_request=3)


def exhausted(call, limit: str) -> str:
    """The call fails RESOURCE_EXHAUSTED naming `limit`; its message."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value.details()
    assert [subject for subject, _ in quota_violations(info.value)] == [limit]
    assert limit in info.value.details()
    return info.value.details()


def wide(hidden: int) -> Creature:
    """2 inputs, `hidden` hidden neurons, one output."""
    neurons = [Neuron(f"h{k}", "hidden", squash="TANH") for k in range(hidden)] + [Neuron("output-0", "output")]
    synapses = [Synapse("input-0", f"h{k}", 0.5) for k in range(hidden)] + [Synapse(f"h{k}", "output-0", 0.5)
                                                                     for k in range(hidden)]
    return Creature(2, 1, neurons, synapses)


@pytest.fixture(scope="module")
def evaluator():
    running = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60, limits=SMALL), LOOPBACK,
                              DatasetLimits(max_records=10))
    channel = grpc.insecure_channel(running.address)
    yield evaluator_pb2_grpc.EvaluatorServiceStub(channel), dataset_pb2_grpc.DatasetServiceStub(channel)
    channel.close()
    running.stop(0)


@pytest.fixture(scope="module")
def evolver(evaluator):
    backend = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60), LOOPBACK)
    running = start_evolver([backend.address], None, LOOPBACK, run_limits=RunLimits(max_population_size=500,
                                                                                       max_active_runs=1),
                            creature_limits=SMALL)
    channel = grpc.insecure_channel(running.address)
    stub = evolver_pb2_grpc.EvolverServiceStub(channel)
    dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=T).dataset_id
    yield stub, dataset_id
    channel.close()
    running.stop(0)
    backend.stop(0)


def test_creatures_per_request_neurons_and_synapses(evaluator):
    stub, datasets = evaluator
    dataset_id = upload_dataset(datasets, xor(), timeout=T).dataset_id
    request = evaluator_pb2.EvaluateRequest(dataset_id=dataset_id, creatures=[wide(1).to_proto()] * 4)
    assert "4 creatures in one request" in exhausted(lambda: stub.Evaluate(request, timeout=T),
                                                     "max_creatures_per_request")
    big = evaluator_pb2.EvaluateRequest(dataset_id=dataset_id, creatures=[wide(1).to_proto(), wide(4).to_proto()])
    assert "creatures[1].neurons: 5 neurons exceed the limit of 4" in exhausted(lambda: stub.Evaluate(big, timeout=T),
                                                                        "max_neurons")
    train = evaluator_pb2.TrainRequest(dataset_id=dataset_id, creatures=[wide(3).to_proto()] * 4)
    exhausted(lambda: stub.Train(train, timeout=T), "max_creatures_per_request")
    activate = evaluator_pb2.ActivateRequest(creature=wide(5).to_proto())
    exhausted(lambda: stub.Activate(activate, timeout=T), "max_neurons")
    # Within the limits the same server answers.
    ok = evaluator_pb2.EvaluateRequest(dataset_id=dataset_id, creatures=[wide(3).to_proto()] * 3)
    assert len(stub.Evaluate(ok, timeout=T).results) == 3


def test_dataset_records(evaluator):
    _, datasets = evaluator
    rng = np.random.default_rng(0)
    big = Dataset(rng.random((11, 2), dtype=np.float32), rng.random((11, 1), dtype=np.float32))
    assert "11 records" in exhausted(lambda: upload_dataset(datasets, big, timeout=T), "max_records")
    upload_dataset(datasets, Dataset(big.X[:10], big.Y[:10]), timeout=T)


def test_population_size_is_refused_before_the_population_is_bred(evolver):
    stub, dataset_id = evolver
    request = evolver_pb2.StartRunRequest(config=evolver_pb2.RunConfig(population_size=1_000_000_000),
                                          dataset_id=dataset_id)
    started = time.monotonic()
    message = exhausted(lambda: stub.StartRun(request, timeout=T), "max_population_size")
    assert time.monotonic() - started < 2 and "population_size 1000000000" in message and "500" in message


def test_concurrent_runs_and_imported_creatures(evolver):
    stub, dataset_id = evolver
    config = evolver_pb2.RunConfig(population_size=20, seed=1, target_error=0.0, iterations=100_000)
    first = stub.StartRun(evolver_pb2.StartRunRequest(config=config, dataset_id=dataset_id), timeout=T).run_id
    try:
        exhausted(lambda: stub.StartRun(evolver_pb2.StartRunRequest(config=config, dataset_id=dataset_id),
                                        timeout=T), "max_active_runs")
        too_many = evolver_pb2.ImportCreaturesRequest(run_id=first, creatures=[wide(1).to_proto()] * 4)
        exhausted(lambda: stub.ImportCreatures(too_many, timeout=T), "max_creatures_per_request")
        too_big = evolver_pb2.ImportCreaturesRequest(run_id=first, creatures_json=[wide(2).to_json()],
                                                     creatures=[wide(9).to_proto()])
        exhausted(lambda: stub.ImportCreatures(too_big, timeout=T), "max_neurons")
    finally:
        stub.StopRun(evolver_pb2.StopRunRequest(run_id=first), timeout=T)
    # One run ended: there is room again.
    second = stub.StartRun(evolver_pb2.StartRunRequest(config=config, dataset_id=dataset_id), timeout=T).run_id
    stub.StopRun(evolver_pb2.StopRunRequest(run_id=second), timeout=T)


def test_neatai_run_with_a_huge_population_is_one_line_at_once(tmp_path):
    started = time.monotonic()
    proc = neatai("run", "--population", "1000000000", "--out", "out", cwd=tmp_path, timeout=60)
    line = one_clear_line(proc, 2)
    assert "RESOURCE_EXHAUSTED" in line and "population_size 1000000000" in line and "max_population_size" in line
    assert time.monotonic() - started < 30
