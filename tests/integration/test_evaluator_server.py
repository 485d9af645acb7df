"""The evaluator server end to end: a real server on 127.0.0.1:0, a real channel, a deadline on
every call. Datasets upload in every format, populations score exactly as in-process, every bad
request gets a precise status code, and the server keeps answering afterwards."""
from __future__ import annotations

import io
import urllib.request

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import reference_activation as ref
from grpc_health.v1 import health_pb2, health_pb2_grpc

from neatai.datasets import DatasetLimits, xor
from neatai.datasets_servicer import upload_dataset, upload_raw
from neatai.errors import field_violations
from neatai.evaluator import compile_network, evaluate_population
from neatai.evaluator.server import start
from neatai.evaluator.service import EvaluatorConfig
from neatai.server import MiB, ServerConfig
from neatai.v1 import dataset_pb2, dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc
from neatai.wire import evaluate_request

T = 10  # seconds: the deadline of every call


@pytest.fixture(scope="module")
def server():
    running = start(EvaluatorConfig(threads=2, memory_check_interval_s=60),
                    ServerConfig(host="127.0.0.1", port=0, metrics_port=0, grace_s=0, max_message_bytes=2 * MiB),
                    DatasetLimits(max_upload_bytes=64 * 1024))
    yield running
    running.stop(0)


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=T)
        yield ch


@pytest.fixture(scope="module")
def stubs(channel):
    return evaluator_pb2_grpc.EvaluatorServiceStub(channel), dataset_pb2_grpc.DatasetServiceStub(channel)


@pytest.fixture(scope="module")
def xor_id(stubs):
    return upload_dataset(stubs[1], xor(), timeout=T).dataset_id


def population(n, seed=0, n_in=2):
    rng = np.random.default_rng(seed)
    return [ref.random_creature(rng, n_in=n_in, n_hidden=int(rng.integers(0, 6)), n_out=1,
                                squash_names=["TANH", "LOGISTIC", "RELU"]) for _ in range(n)]


def code_of(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_health_reports_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "neatai.v1.EvaluatorService", "neatai.v1.DatasetService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=T)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=T)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {"neatai.v1.EvaluatorService", "neatai.v1.DatasetService", "grpc.health.v1.Health"} <= names


def test_register_xor_then_again_is_already_present(stubs, xor_id):
    reply = upload_dataset(stubs[1], xor(), timeout=T, chunk_bytes=7)
    assert reply.dataset_id == xor_id == xor().id and reply.already_present
    assert (reply.shape.records, reply.shape.inputs, reply.shape.outputs) == (4, 2, 1)
    assert list(reply.target_names) == ["xor"]


def test_csv_and_parquet_uploads_give_the_content_id(stubs, xor_id):
    csv = b"a,b,xor\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"
    header = dataset_pb2.DatasetHeader(format=dataset_pb2.DATASET_FORMAT_CSV, target_names=["xor"], name="xor.csv")
    reply = upload_raw(stubs[1], header, csv, timeout=T, chunk_bytes=5)
    assert reply.dataset_id == xor_id and reply.already_present
    assert list(reply.feature_names) == ["a", "b"]
    sink = io.BytesIO()
    pq.write_table(pa.table({"y": [1.0, 2.0, 3.0], "x": [0.5, 0.25, 0.125]}), sink)
    header = dataset_pb2.DatasetHeader(format=dataset_pb2.DATASET_FORMAT_PARQUET, target_names=["y"])
    reply = upload_raw(stubs[1], header, sink.getvalue(), timeout=T)
    assert not reply.already_present and reply.dataset_id.startswith("sha256:")
    assert (reply.shape.records, reply.shape.inputs, reply.shape.outputs) == (3, 1, 1)


def test_malformed_and_oversize_uploads(stubs):
    header = dataset_pb2.DatasetHeader(format=dataset_pb2.DATASET_FORMAT_CSV, target_names=["y"])
    error = code_of(lambda: upload_raw(stubs[1], header, b"a,y\n1,2\n3\n", timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "ragged row" in error.details()
    assert field_violations(error)[0][0] == "chunk"
    header = dataset_pb2.DatasetHeader(format=dataset_pb2.DATASET_FORMAT_FLOAT32_RECORDS, inputs=2, outputs=1)
    error = code_of(lambda: upload_raw(stubs[1], header, b"\0" * 13, timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "Trailing 1 bytes (incomplete record)" in error.details()
    chunks = iter([dataset_pb2.RegisterDatasetRequest(chunk=b"1234")])
    error = code_of(lambda: stubs[1].RegisterDataset(chunks, timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violations(error)[0][0] == "header"
    error = code_of(lambda: upload_raw(stubs[1], header, b"\0" * (96 * 1024), timeout=T))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "65536" in error.details()


def test_evaluate_matches_the_in_process_kernel(stubs, xor_id):
    creatures = population(30)
    reply = stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(
        dataset_id=xor_id, creatures=[c.to_proto() for c in creatures], cost=evaluator_pb2.COST_FUNCTION_MSE,
        structural_hashes=True), timeout=T)
    data = xor()
    expected = evaluate_population([compile_network(c) for c in creatures], data.X, data.Y, "MSE")
    assert [r.error for r in reply.results] == list(expected)
    assert [r.structural_hash for r in reply.results] == [c.structural_hash() for c in creatures]
    unasked = stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(dataset_id=xor_id, creatures=[c.to_proto() for c in creatures]),
                                timeout=T)
    assert [r.structural_hash for r in unasked.results] == [""] * len(creatures)
    assert all(r.score < 1 - r.error + 1e-12 for r in reply.results)


def test_second_evaluate_hits_the_cache(stubs, xor_id):
    request = evaluator_pb2.EvaluateRequest(dataset_id=xor_id, creatures=[c.to_proto() for c in population(10, seed=4)])

    def networks():
        stats = stubs[0].GetStats(evaluator_pb2.GetStatsRequest(), timeout=T)
        return next(c for c in stats.caches if c.name == "compiled-networks"), stats

    stubs[0].Evaluate(request, timeout=T)
    before, stats = networks()
    second = stubs[0].Evaluate(request, timeout=T)
    after, _ = networks()
    assert after.hits - before.hits == 10
    assert all(r.compile_seconds == 0 for r in second.results)
    assert {c.name for c in stats.caches} == {"compiled-networks", "topology-templates", "datasets"}
    pool = stats.pools[0]
    assert pool.name == "evaluator" and pool.total_workers == 2 == pool.busy_workers + pool.idle_workers
    assert stats.memory.resident_bytes > 0 and stats.memory.budget_bytes > 0


def test_activate(stubs):
    creature = population(1, seed=7)[0]
    X = np.array([[0, 0], [0, 1], [1, 0.5]], dtype=np.float32)
    reply = stubs[0].Activate(evaluator_pb2.ActivateRequest(
        creature=creature.to_proto(), inputs=dataset_pb2.Matrix(rows=3, cols=2, values=X.ravel().tolist())), timeout=T)
    assert (reply.outputs.rows, reply.outputs.cols) == (3, 1)
    np.testing.assert_array_equal(np.array(reply.outputs.values, dtype=np.float32).reshape(3, 1),
                                  compile_network(creature).activate(X))
    error = code_of(lambda: stubs[0].Activate(evaluator_pb2.ActivateRequest(
        creature=creature.to_proto(), inputs=dataset_pb2.Matrix(rows=2, cols=3, values=[0] * 5)), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(error)} == {"inputs.cols", "inputs.values"}


def test_an_activate_session_keeps_recurrent_state_from_call_to_call(stubs):
    creature = ref.random_creature(np.random.default_rng(3), n_in=2, n_hidden=6, n_out=1, recurrent=True)
    assert creature.recurrent
    X = np.random.default_rng(4).standard_normal((5, 2)).astype(np.float32)
    whole = compile_network(creature).activate(X, feedback_loop=True)  # one call over the episode

    def step(rows, **session):
        reply = stubs[0].Activate(evaluator_pb2.ActivateRequest(
            creature=creature.to_proto(), inputs=dataset_pb2.Matrix(rows=len(rows), cols=2, values=rows.ravel().tolist()),
            **session), timeout=T)
        return np.array(reply.outputs.values, dtype=np.float32), reply.session_steps

    stepped = [step(X[k:k + 1], session_id="episode-1") for k in range(5)]
    np.testing.assert_array_equal(np.concatenate([y for y, _ in stepped]), whole[:, 0])
    assert [n for _, n in stepped] == [1, 2, 3, 4, 5]
    y, n = step(X[:2], session_id="episode-1", reset_session=True)  # a new episode
    np.testing.assert_array_equal(y, whole[:2, 0])
    assert n == 2
    y, n = step(X[:1], session_id="episode-2")  # sessions are apart
    np.testing.assert_array_equal(y, whole[:1, 0])
    error = code_of(lambda: stubs[0].Activate(evaluator_pb2.ActivateRequest(
        creature=creature.to_proto(), inputs=dataset_pb2.Matrix(rows=1, cols=2, values=[0, 0]), session_id="x" * 300),
        timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(error)} == {"session_id"}


def test_unknown_dataset_is_not_found(stubs):
    unknown = "sha256:" + "ab" * 32
    error = code_of(lambda: stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(
        dataset_id=unknown, creatures=[population(1)[0].to_proto()]), timeout=T))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == (f"dataset {unknown} not registered; upload it with DatasetService.RegisterDataset "
                               "and retry")


def test_malformed_creatures_name_their_fields(stubs, xor_id):
    good, bad = (c.to_proto() for c in population(2, seed=2))
    bad.synapses[0].to_uuid = "no-such-neuron"
    error = code_of(lambda: stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(dataset_id=xor_id, creatures=[good, bad]),
                                              timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in field_violations(error)]
    assert "creatures[1].synapses[0].toUUID" in fields and all(f.startswith("creatures[1].") for f in fields)


def test_bad_request_fields_and_shape_mismatch(stubs, xor_id):
    creature = population(1)[0].to_proto()
    error = code_of(lambda: stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(
        dataset_id=xor_id, creatures=[creature], cost=99, fitness_sample_rate=2.0, cost_of_growth=-1), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(error)} == {"cost", "fitness_sample_rate", "cost_of_growth"}
    wide = population(1, n_in=3)[0].to_proto()
    error = code_of(lambda: stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(dataset_id=xor_id, creatures=[wide]),
                                              timeout=T))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "3 inputs/1 outputs" in error.details()


def test_oversize_message_is_resource_exhausted_and_the_server_still_answers(stubs, xor_id):
    big = evaluator_pb2.ActivateRequest(inputs=dataset_pb2.Matrix(rows=1, cols=1, values=[0.5] * (3 * MiB // 4)))
    error = code_of(lambda: stubs[0].Activate(big, timeout=T))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reply = stubs[0].Evaluate(evaluator_pb2.EvaluateRequest(
        dataset_id=xor_id, creatures=[population(1)[0].to_proto()]), timeout=T)
    assert len(reply.results) == 1


def test_metrics_endpoint_exposes_caches_and_pool(server, stubs, xor_id):
    body = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=T).read().decode()
    assert 'neatai_cache_hits_total{cache="compiled-networks"}' in body
    assert 'neatai_pool_workers{pool="evaluator",state="idle"}' in body
    assert "neatai_memory_resident_bytes" in body


def test_neatai_serve_evaluator_drains_on_sigterm():
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "neatai.app.cli", "serve", "evaluator", "--port", "0", "--host",
                             "127.0.0.1", "--metrics-port", "-1", "--threads", "1", "--grace", "1"],
                            stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stderr:
            match = re.search(r"evaluator listening on port (\d+)", line)
            if match:
                port = int(match.group(1))
                break
        assert port, "server did not report its port"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            reply = dataset_pb2_grpc.DatasetServiceStub(ch).RegisterDataset(
                iter([dataset_pb2.RegisterDatasetRequest(header=dataset_pb2.DatasetHeader(
                    format=dataset_pb2.DATASET_FORMAT_FLOAT32_RECORDS, inputs=2, outputs=1)),
                    dataset_pb2.RegisterDatasetRequest(chunk=xor().to_records_bytes())]), timeout=T)
            assert reply.dataset_id == xor().id
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=T) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("method", ["/neatai.v1.EvaluatorService/Evaluate", "/neatai.v1.EvaluatorService/Activate",
                                    "/neatai.v1.DatasetService/RegisterDataset"])
def test_bytes_that_are_not_the_request_message_answer_invalid_argument(channel, stubs, xor_id, method):
    good = evaluator_pb2.EvaluateRequest(dataset_id=xor_id, creatures=[c.to_proto() for c in population(2)])
    truncated = good.SerializeToString()[:-5]
    if method.endswith("RegisterDataset"):
        call = channel.stream_unary(method, request_serializer=None, response_deserializer=None)
        error = code_of(lambda: call(iter([b"\x0a\xff\xff"]), timeout=T))
    else:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        error = code_of(lambda: call(truncated, timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "not a valid neatai.v1." in error.details()
    assert len(stubs[0].Evaluate(good, timeout=T).results) == 2  # and the server serves on


def test_a_creature_whose_bytes_are_broken_is_named(channel, xor_id):
    head = evaluator_pb2.EvaluateRequest(dataset_id=xor_id).SerializeToString()
    good = population(1)[0].to_bytes()
    call = channel.unary_unary("/neatai.v1.EvaluatorService/Evaluate", request_serializer=None,
                               response_deserializer=None)
    error = code_of(lambda: call(evaluate_request(head, [good, b"\x1a\x05\x0a\x01"]), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(error)] == ["creatures[1]"]
