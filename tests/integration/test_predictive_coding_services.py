"""Predictive coding on real services (127.0.0.1:0, real channels): the Train RPC trains with
PredictiveCodingOptions in both modes and tags the creatures, its bad settings are field
violations while the server serves on, and a memetic evolver run trains with PC every generation."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

import pc_reference as R
from neatai.creature import Creature
from neatai.datasets import Dataset, xor
from neatai.datasets_servicer import upload_dataset
from neatai.errors import field_violations
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc, evolver_pb2, evolver_pb2_grpc

T = 30


def loopback() -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, grace_s=0)


@pytest.fixture(scope="module")
def evaluator():
    running = start_evaluator(EvaluatorConfig(threads=2, memory_check_interval_s=60), loopback())
    yield running
    running.stop(0)


@pytest.fixture(scope="module")
def channel(evaluator):
    with grpc.insecure_channel(evaluator.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=T)
        yield ch


@pytest.fixture(scope="module")
def dataset_id(channel):
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (256, 4)).astype(np.float32)
    Y = np.tanh(X[:, :1] * X[:, 1:2] + 0.5 * X[:, 2:3]).astype(np.float32)
    return upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), Dataset(X, Y, name="pc"), timeout=T).dataset_id


def train_request(dataset_id, creatures, **pc):
    return evaluator_pb2.TrainRequest(
        dataset_id=dataset_id, creatures=[c.to_proto() for c in creatures], cost=evaluator_pb2.COST_FUNCTION_MSE,
        options=evaluator_pb2.TrainOptions(iterations=8, seed=5, predictive_coding=evaluator_pb2.PredictiveCodingOptions(**pc)))


@pytest.mark.parametrize("mode", [evaluator_pb2.INTEGRATION_MODE_REPLACE, evaluator_pb2.INTEGRATION_MODE_COMPLEMENT])
def test_train_rpc_trains_with_predictive_coding(channel, dataset_id, mode):
    stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
    population = [R.random_dag(s, n_in=4, n_hidden=12, n_out=1) for s in range(3)]
    reply = stub.Train(train_request(dataset_id, population, enabled=True, learning_rate=0.1, integration_mode=mode),
                       timeout=T)
    assert all(r.error_after < r.error_before for r in reply.results)
    trained = [Creature.from_proto(r.creature) for r in reply.results]
    assert all(float(c.tag("pc-energy")) > 0 and 0 < float(c.tag("pc-inference-steps")) <= 20 for c in trained)
    scored = stub.Evaluate(evaluator_pb2.EvaluateRequest(dataset_id=dataset_id, creatures=[r.creature for r in reply.results]),
                           timeout=T)
    assert [r.error for r in scored.results] == [r.error_after for r in reply.results]


def test_bad_predictive_coding_settings_are_field_violations(channel, dataset_id):
    stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
    population = [R.random_dag(0, n_in=4, n_hidden=4, n_out=1)]
    with pytest.raises(grpc.RpcError) as e:
        stub.Train(train_request(dataset_id, population, enabled=True, inference_rate=-1, max_inference_iterations=0,
                                 integration_mode=9), timeout=T)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = dict(field_violations(e.value))
    assert set(violations) == {"options.predictive_coding.inference_rate",
                               "options.predictive_coding.max_inference_iterations",
                               "options.predictive_coding.integration_mode"}
    assert violations["options.predictive_coding.inference_rate"] == \
        "predictiveCoding.inferenceRate must be finite and > 0, got -1.0"
    assert stub.Train(train_request(dataset_id, population, enabled=True), timeout=T).results  # serving on


def test_a_memetic_run_trains_with_predictive_coding(evaluator, tmp_path):
    evolver = start_evolver([evaluator.address], tmp_path / "state", loopback(), rpc_timeout=10)
    channel = grpc.insecure_channel(evolver.address)
    try:
        stub = evolver_pb2_grpc.EvolverServiceStub(channel)
        data = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=T).dataset_id
        config = evolver_pb2.RunConfig(
            population_size=20, seed=7, target_error=0.0, iterations=8, memetic=True,
            backpropagation=evaluator_pb2.TrainOptions(iterations=3, predictive_coding=evaluator_pb2.PredictiveCodingOptions(
                enabled=True, learning_rate=0.1, integration_mode=evaluator_pb2.INTEGRATION_MODE_COMPLEMENT)))
        run_id = stub.StartRun(evolver_pb2.StartRunRequest(config=config, dataset_id=data), timeout=T).run_id
        reports = [m.report for m in stub.WatchRun(evolver_pb2.WatchRunRequest(run_id=run_id), timeout=120)]
        run = stub.GetRun(evolver_pb2.GetRunRequest(run_id=run_id), timeout=T).run
    finally:
        channel.close()
        evolver.stop(0)
    assert run.config.backpropagation.predictive_coding.enabled
    assert all(r.trained > 0 for r in reports[:-1]) and sum(r.trained_improved for r in reports) > 0
