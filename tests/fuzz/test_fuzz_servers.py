"""Fuzzing the servers themselves (a real evaluator on loopback): damaged Evaluate requests
(the bytes the compiled wire reader splits and reads) and dataset uploads get a precise status,
never UNKNOWN or INTERNAL, and the server goes on answering."""
from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings, strategies as st

from neatai.creature import Creature
from neatai.datasets import xor
from neatai.datasets_servicer import upload_dataset
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2, dataset_pb2_grpc, evaluator_pb2
from neatai.wire import evaluate_request

from mutations import corpus, inputs

PRECISE = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
           grpc.StatusCode.RESOURCE_EXHAUSTED}
EVALUATE = "/neatai.v1.EvaluatorService/Evaluate"


@pytest.fixture(scope="module")
def server():
    running = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60),
                              ServerConfig(host="127.0.0.1", port=0, grace_s=0))
    channel = grpc.insecure_channel(running.address)
    dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=10).dataset_id
    yield channel, dataset_id
    channel.close()
    running.stop(0)


def answers(channel) -> None:
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING


def requests(dataset_id: str) -> list[bytes]:
    """Valid Evaluate requests: the corpus creatures with two inputs and one output, on XOR."""
    head = evaluator_pb2.EvaluateRequest(dataset_id=dataset_id).SerializeToString()
    creatures = [Creature.from_json(t) for t in corpus("creature-json")]
    fitting = [c.to_bytes() for c in creatures if (c.input, c.output) == (2, 1)] or [creatures[0].to_bytes()]
    return [evaluate_request(head, fitting), evaluate_request(head, fitting * 3)]


def test_damaged_evaluate_requests(server):
    channel, dataset_id = server
    call = channel.unary_unary(EVALUATE, request_serializer=None, response_deserializer=None)
    seeds = requests(dataset_id)

    @settings(max_examples=min(settings().max_examples, 100))
    @given(inputs(seeds))
    def evaluate(data):
        try:
            reply = evaluator_pb2.EvaluateResponse.FromString(call(data, timeout=10))
        except grpc.RpcError as e:
            assert e.code() in PRECISE, (e.code(), e.details())
            return
        # A request the server took is scored whole: one result per creature it carries.
        assert len(reply.results) == len(evaluator_pb2.EvaluateRequest.FromString(data).creatures)

    evaluate()
    answers(channel)


@pytest.mark.parametrize("kind, header", [
    ("csv", dict(format=dataset_pb2.DATASET_FORMAT_CSV)),
    ("parquet", dict(format=dataset_pb2.DATASET_FORMAT_PARQUET)),
    ("npz", dict(format=dataset_pb2.DATASET_FORMAT_NPZ)),
    ("records", dict(format=dataset_pb2.DATASET_FORMAT_FLOAT32_RECORDS, inputs=2, outputs=1)),
])
def test_damaged_dataset_uploads(server, kind, header):
    channel, _ = server
    stub = dataset_pb2_grpc.DatasetServiceStub(channel)

    @settings(max_examples=min(settings().max_examples, 40))
    @given(inputs(corpus(kind)), st.integers(1, 64))
    def upload(data, chunk):
        messages = [dataset_pb2.RegisterDatasetRequest(header=dataset_pb2.DatasetHeader(**header))] + [
            dataset_pb2.RegisterDatasetRequest(chunk=data[i:i + chunk]) for i in range(0, len(data), chunk)]
        try:
            reply = stub.RegisterDataset(iter(messages), timeout=10)
        except grpc.RpcError as e:
            assert e.code() in PRECISE, (e.code(), e.details())
            return
        assert reply.dataset_id.startswith("sha256:")

    upload()
    answers(channel)
