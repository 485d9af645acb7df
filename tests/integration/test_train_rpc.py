"""Train and TrainStream on a real evaluator server (127.0.0.1:0, real channel): trained
creatures improve and score on the server as reported, seeded training is reproducible in any
request, every bad option is a named field violation, an unknown dataset is NOT_FOUND, and a
cancelled call or a passed deadline stops the training promptly while the server serves on."""
from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
import reference_activation as ref

from neatai import metrics
from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.datasets_servicer import upload_dataset
from neatai.errors import field_violations
from neatai.evaluator.server import start
from neatai.evaluator.service import EvaluatorConfig
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc

T = 20  # seconds: the deadline of every call that should finish


@pytest.fixture(scope="module")
def server():
    running = start(EvaluatorConfig(threads=2, memory_check_interval_s=60),
                    ServerConfig(host="127.0.0.1", port=0, grace_s=0))
    yield running
    running.stop(0)


@pytest.fixture(scope="module")
def stubs(server):
    with grpc.insecure_channel(server.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=T)
        yield evaluator_pb2_grpc.EvaluatorServiceStub(ch), dataset_pb2_grpc.DatasetServiceStub(ch)


def regression(n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    Y = np.stack([0.5 * np.sin(X[:, 0]) + 0.2 * X[:, 1], X[:, 2] * X[:, 1]], 1).astype(np.float32)
    return Dataset(X, Y, name=f"regression-{n}")


@pytest.fixture(scope="module")
def small_id(stubs):
    return upload_dataset(stubs[1], regression(256), timeout=T).dataset_id


@pytest.fixture(scope="module")
def large_id(stubs):
    return upload_dataset(stubs[1], regression(20_000, 1), timeout=T).dataset_id


def creatures(n, seed=0):
    rng = np.random.default_rng(seed)
    return [ref.random_creature(rng, n_hidden=int(rng.integers(2, 8)), squash_names=["TANH", "LOGISTIC", "IDENTITY"])
            for _ in range(n)]


def request(dataset_id, population, kind=evaluator_pb2.TrainRequest, **options):
    return kind(dataset_id=dataset_id, creatures=[c.to_proto() for c in population],
                cost=evaluator_pb2.COST_FUNCTION_MSE, options=evaluator_pb2.TrainOptions(**options))


def raised(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def idle(stubs, within_s: float) -> float:
    """Seconds until no worker of the evaluator's pool is busy (fails after `within_s`)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within_s:
        pool = stubs[0].GetStats(evaluator_pb2.GetStatsRequest(), timeout=T).pools[0]
        if pool.busy_workers == 0 and pool.total_queued_tasks == 0:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError(f"the pool was still busy after {within_s} s")


def counter(name: str) -> float:
    for line in metrics.exposition().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not exposed")


def test_trained_creatures_improve_and_score_on_the_server_as_reported(stubs, small_id):
    population = creatures(6)
    passes, trained_before = counter("neatai_training_passes_total"), counter("neatai_training_creatures_total")
    reply = stubs[0].Train(request(small_id, population, iterations=15, learning_rate=0.1, seed=7), timeout=T)
    assert [r.index for r in reply.results] == list(range(6))
    assert all(r.error_after <= r.error_before for r in reply.results)
    assert sum(r.error_after < 0.8 * r.error_before for r in reply.results) >= 4
    assert all(r.learning_rate_strategy == evaluator_pb2.LEARNING_RATE_STRATEGY_FIXED for r in reply.results)
    assert all(0 < r.iterations <= 15 and r.seconds > 0 for r in reply.results)
    before = stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(
        dataset_id=small_id, creatures=[c.to_proto() for c in population]), timeout=T)
    after = stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(
        dataset_id=small_id, creatures=[r.creature for r in reply.results]), timeout=T)
    assert [r.error for r in before.results] == [r.error_before for r in reply.results]
    assert [r.error for r in after.results] == [r.error_after for r in reply.results]
    assert counter("neatai_training_creatures_total") - trained_before == 6
    assert counter("neatai_training_passes_total") - passes == sum(r.iterations for r in reply.results)


def test_seeded_training_is_the_same_in_any_request_and_streamed(stubs, small_id):
    population = creatures(4, seed=3)
    options = dict(iterations=5, seed=11)  # the strategy is drawn, per creature, from the seed
    whole = stubs[0].Train(request(small_id, population, **options), timeout=T).results
    alone = stubs[0].Train(request(small_id, population[2:3], **options), timeout=T).results
    assert alone[0].creature == whole[2].creature and alone[0].error_after == whole[2].error_after
    events = list(stubs[0].TrainStream(request(small_id, population, evaluator_pb2.TrainStreamRequest, **options),
                                       timeout=T))
    results = sorted((e.result for e in events if e.HasField("result")), key=lambda r: r.index)
    assert [(r.creature, r.error_after) for r in results] == [(r.creature, r.error_after) for r in whole]
    progress = [e.progress for e in events if e.HasField("progress")]
    assert len(progress) == sum(r.iterations for r in whole)
    for r in whole:  # each creature's passes in order, ending where its result ends
        mine = [p for p in progress if p.index == r.index]
        assert [p.iterations for p in mine] == list(range(1, r.iterations + 1))
        assert min(p.error for p in mine) == r.error_after or r.error_after == r.error_before


def test_synthetic_synapses_grow_what_a_sparse_creature_lacks(stubs):
    # both outputs read input-0 only; the targets need input-1 and input-2
    X = np.random.default_rng(4).uniform(-1, 1, (256, 3)).astype(np.float32)
    Y = np.stack([0.5 * X[:, 0] - 0.8 * X[:, 1], 0.6 * X[:, 2]], 1).astype(np.float32)
    linear_id = upload_dataset(stubs[1], Dataset(X, Y, name="linear"), timeout=T).dataset_id
    sparse = Creature.from_json({"input": 3, "output": 2, "neurons": [
        {"type": "output", "uuid": f"output-{k}", "bias": 0.0, "squash": "IDENTITY"} for k in range(2)],
        "synapses": [{"fromUUID": "input-0", "toUUID": f"output-{k}", "weight": 0.1} for k in range(2)]})
    options = dict(iterations=30, learning_rate=0.05, seed=2)
    plain, grown = (stubs[0].Train(request(linear_id, [sparse], **options, **extra), timeout=T).results[0]
                    for extra in ({}, {"synthetic_synapses": True}))
    assert grown.error_after < 0.1 * plain.error_after
    assert len(grown.creature.synapses) > len(sparse.synapses) == len(plain.creature.synapses)
    scored = stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(dataset_id=linear_id, creatures=[grown.creature]),
                               timeout=T).results[0]
    assert scored.error == grown.error_after  # the pruned creature, as the server scores it


def test_every_bad_option_is_a_field_violation(stubs, small_id):
    population = creatures(1)
    bad = request(small_id, population, iterations=0, batch_size=-3, learning_rate=float("nan"),
                  learning_rate_decay=0, warm_restart_period=0, maximum_weight_adjustment_scale=-1,
                  limit_bias_scale=float("inf"), plank_constant=-1e-7, target_error=-1, learning_rate_strategy=99,
                  optimizer=7, l1=-0.5, l2=float("nan"), sparse_ratio=1.5, max_per_target=0)
    bad.cost = 42
    for call, message in ((stubs[0].Train, bad), (stubs[0].TrainStream, evaluator_pb2.TrainStreamRequest(
            **{f.name: getattr(bad, f.name) for f in bad.DESCRIPTOR.fields}))):
        error = raised(lambda: list(call(message, timeout=T)) if call is stubs[0].TrainStream else call(message, timeout=T))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        violations = dict(field_violations(error))
        assert set(violations) == {"cost", "options.iterations", "options.batch_size", "options.learning_rate",
                                   "options.learning_rate_decay", "options.warm_restart_period",
                                   "options.maximum_weight_adjustment_scale", "options.limit_bias_scale",
                                   "options.plank_constant", "options.target_error",
                                   "options.learning_rate_strategy", "options.optimizer", "options.l1",
                                   "options.l2", "options.sparse_ratio", "options.max_per_target"}
        assert violations["options.batch_size"] == "batchSize must be at least 1, got -3"
        assert violations["options.sparse_ratio"] == "sparseRatio must be in (0, 1], got 1.5"
        assert violations["options.max_per_target"] == "maxPerTarget must be at least 1, got 0"
    broken = population[0].to_proto()
    broken.synapses[0].to_uuid = "nowhere"
    error = raised(lambda: stubs[0].Train(evaluator_pb2.TrainRequest(dataset_id=small_id, creatures=[broken]),
                                          timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert all(f.startswith("creatures[0].") for f, _ in field_violations(error))
    error = raised(lambda: stubs[0].Train(evaluator_pb2.TrainRequest(dataset_id=small_id), timeout=T))
    assert [f for f, _ in field_violations(error)] == ["creatures"]


def test_unknown_dataset_and_shape_mismatch(stubs, small_id):
    unknown = "sha256:" + "cd" * 32
    error = raised(lambda: stubs[0].Train(request(unknown, creatures(1)), timeout=T))
    assert error.code() == grpc.StatusCode.NOT_FOUND and unknown in error.details()
    error = raised(lambda: list(stubs[0].TrainStream(request(unknown, creatures(1), evaluator_pb2.TrainStreamRequest),
                                                     timeout=T)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    wide = ref.random_creature(np.random.default_rng(0), n_in=4, n_hidden=2, n_out=2)
    error = raised(lambda: stubs[0].Train(request(small_id, [wide]), timeout=T))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "4 inputs/2 outputs" in error.details()


def test_a_cancelled_stream_stops_the_training(stubs, large_id, small_id):
    stopped = counter("neatai_training_stopped_jobs_total")
    # 20,000 records in batches of 1 for 1,000 passes: hours of work unless stopped
    call = stubs[0].TrainStream(request(large_id, creatures(4), evaluator_pb2.TrainStreamRequest,
                                        iterations=1000, batch_size=1, seed=1), timeout=120)
    deadline = time.monotonic() + 5
    while stubs[0].GetStats(evaluator_pb2.GetStatsRequest(), timeout=T).pools[0].busy_workers < 2:
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.02)
    call.cancel()
    assert raised(lambda: next(call)).code() == grpc.StatusCode.CANCELLED
    assert idle(stubs, within_s=5) < 5
    assert counter("neatai_training_stopped_jobs_total") == stopped + 1
    assert len(stubs[0].Train(request(small_id, creatures(1), iterations=1), timeout=T).results) == 1


def test_a_passed_deadline_stops_the_training(stubs, large_id, small_id):
    stopped = counter("neatai_training_stopped_jobs_total")
    t0 = time.monotonic()
    error = raised(lambda: stubs[0].Train(request(large_id, creatures(3), iterations=1000, batch_size=1),
                                          timeout=0.5))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - t0 < 5
    assert idle(stubs, within_s=5) < 5
    assert counter("neatai_training_stopped_jobs_total") == stopped + 1
    assert len(stubs[0].Train(request(small_id, creatures(1), iterations=1), timeout=T).results) == 1
