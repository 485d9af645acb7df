"""Record on a real evaluator server (127.0.0.1:0, real channel): the recording lands on the
evaluator's disk with the sampled size and the forward pass's activations; bad requests are
named field violations, an unknown dataset NOT_FOUND, a mismatched creature FAILED_PRECONDITION,
and the server serves on."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import grpc
import numpy as np
import pyarrow.parquet as pq
import pytest

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.datasets_servicer import upload_dataset
from neatai.errors import field_violations
from neatai.evaluator import compile_network
from neatai.evaluator.server import start
from neatai.evaluator.service import EvaluatorConfig
from neatai.recording import LOCK, SCHEMA
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc

T = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start(EvaluatorConfig(threads=1, memory_check_interval_s=60,
                                    recording_dir=str(tmp_path_factory.mktemp("recordings"))),
                    ServerConfig(host="127.0.0.1", port=0, grace_s=0))
    yield running
    running.stop(0)


@pytest.fixture(scope="module")
def stubs(server):
    with grpc.insecure_channel(server.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=T)
        yield evaluator_pb2_grpc.EvaluatorServiceStub(ch), dataset_pb2_grpc.DatasetServiceStub(ch)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (777, 2)).astype(np.float32)
    return Dataset(X, np.tanh(X[:, :1] + X[:, 1:]).astype(np.float32))


@pytest.fixture(scope="module")
def dataset_id(stubs, data):
    return upload_dataset(stubs[1], data, timeout=T).dataset_id


def creature(inputs=2) -> Creature:
    return Creature.from_json({"input": inputs, "output": 1, "neurons": [
        {"type": "output", "uuid": "out", "bias": 0.1, "squash": "TANH"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "out", "weight": 0.8}]})


def raised(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_record_writes_the_sampled_recording_on_the_evaluator(stubs, data, dataset_id):
    c = creature()
    r = stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=dataset_id, creature=c.to_proto(),
                                                    sample_rate=0.25, seed=7), timeout=T)
    assert r.observations == math.ceil(777 * 0.25) and r.rows == r.observations * 3 and not r.timed_out
    assert pq.read_schema(r.path).equals(SCHEMA)
    table = pq.read_table(r.path)
    assert r.bytes > 0 and table.num_rows == r.rows
    chosen = json.loads(open(f"{r.directory}/selected_indices.json").read())[dataset_id]
    acts = np.array(table["activation"].to_pylist(), np.float32).reshape(-1, 3)
    np.testing.assert_array_equal(acts[:, 0], compile_network(c).activate(data.X[chosen])[:, 0])
    again = stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=dataset_id, creature=c.to_proto(),
                                                        sample_rate=0.25, seed=7), timeout=T)
    assert again.path != r.path            # a new recording folder each call, the same sample
    assert json.loads(open(f"{again.directory}/selected_indices.json").read())[dataset_id] == chosen


def test_bad_requests_are_precise_and_the_server_serves_on(stubs, dataset_id):
    e = raised(lambda: stubs[0].Record(evaluator_pb2.RecordRequest(
        creature=creature().to_proto(), sample_rate=1.5, timeout_seconds=-1), timeout=T))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(e)} == {"dataset_id", "sample_rate", "timeout_seconds"}
    e = raised(lambda: stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=dataset_id), timeout=T))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violations(e)[0][0] == "creature"
    e = raised(lambda: stubs[0].Record(evaluator_pb2.RecordRequest(
        dataset_id="sha256:nope", creature=creature().to_proto()), timeout=T))
    assert e.code() == grpc.StatusCode.NOT_FOUND and "RegisterDataset" in e.details()
    e = raised(lambda: stubs[0].Record(evaluator_pb2.RecordRequest(
        dataset_id=dataset_id, creature=creature(3).to_proto()), timeout=T))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "3 inputs" in e.details()
    ok = stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=dataset_id, creature=creature().to_proto()),
                         timeout=T)
    assert ok.observations == math.ceil(777 * 0.2)


def test_a_recording_can_be_fetched_from_another_machine_and_deleted(stubs, dataset_id, tmp_path):
    r = stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=dataset_id, creature=creature().to_proto()),
                        timeout=T)
    parts = list(stubs[0].FetchRecording(evaluator_pb2.FetchRecordingRequest(path=r.path, chunk_bytes=1024),
                                         timeout=T))
    assert len(parts) > 1 and all(p.total_bytes == r.bytes for p in parts)
    assert [p.offset for p in parts] == [i * 1024 for i in range(len(parts))]
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(b"".join(p.data for p in parts))
    assert pq.read_table(copy).equals(pq.read_table(r.path))
    for bad in (evaluator_pb2.FetchRecordingRequest(path="/etc/passwd"),
                evaluator_pb2.FetchRecordingRequest(path=r.path + "/../../../outside"),
                evaluator_pb2.FetchRecordingRequest(path=r.path, chunk_bytes=10)):
        e = raised(lambda: list(stubs[0].FetchRecording(bad, timeout=T)))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violations(e)
    e = raised(lambda: stubs[0].DeleteRecording(evaluator_pb2.DeleteRecordingRequest(directory=r.path), timeout=T))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT     # a file, not a recording folder
    lock = Path(r.directory) / LOCK
    lock.write_text(str(os.getpid()))        # as while its Record call runs
    e = raised(lambda: stubs[0].DeleteRecording(evaluator_pb2.DeleteRecordingRequest(directory=r.directory), timeout=T))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    lock.unlink()
    stubs[0].DeleteRecording(evaluator_pb2.DeleteRecordingRequest(directory=r.directory), timeout=T)
    e = raised(lambda: list(stubs[0].FetchRecording(evaluator_pb2.FetchRecordingRequest(path=r.path), timeout=T)))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = raised(lambda: stubs[0].DeleteRecording(evaluator_pb2.DeleteRecordingRequest(directory=r.directory),
                                                timeout=T))
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_a_cancelled_record_call_leaves_no_file(server, stubs):
    rng = np.random.default_rng(4)
    wide = Dataset(rng.normal(size=(30_000, 100)).astype(np.float32), rng.normal(size=(30_000, 1)).astype(np.float32))
    wide_id = upload_dataset(stubs[1], wide, timeout=T).dataset_id
    hidden = [{"type": "hidden", "uuid": f"h{i}", "bias": 0.0, "squash": "TANH"} for i in range(300)]
    c = Creature.from_json({"input": 100, "output": 1, "neurons": [
        *hidden, {"type": "output", "uuid": "out", "bias": 0.0, "squash": "IDENTITY"}], "synapses": [
        *({"fromUUID": f"input-{i % 100}", "toUUID": f"h{i}", "weight": 0.5} for i in range(300)),
        *({"fromUUID": f"h{i}", "toUUID": "out", "weight": 0.1} for i in range(300))]})
    base = Path(server.evaluator.config.recording_dir)
    before = set(base.iterdir())
    call = stubs[0].Record.future(evaluator_pb2.RecordRequest(dataset_id=wide_id, creature=c.to_proto(),
                                                              sample_rate=1.0), timeout=T)
    t0 = time.monotonic()
    while set(base.iterdir()) == before and time.monotonic() - t0 < T:   # the recording has started
        time.sleep(0.01)
    call.cancel()
    while set(base.iterdir()) != before and time.monotonic() - t0 < T:
        time.sleep(0.05)
    assert set(base.iterdir()) == before                 # folder, .tmp file and lock all gone
    assert stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=wide_id, creature=c.to_proto(), sample_rate=0.01),
                           timeout=T).observations == 300  # and the server records on


def hidden_creature() -> Creature:
    return Creature.from_json({"input": 2, "output": 1, "neurons": [
        {"type": "hidden", "uuid": "h", "bias": 0.2, "squash": "TANH"},
        {"type": "output", "uuid": "out", "bias": 0.1, "squash": "TANH"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "h", "weight": 0.8},
                     {"fromUUID": "input-1", "toUUID": "h", "weight": -0.5},
                     {"fromUUID": "h", "toUUID": "out", "weight": 1.1}]})


def test_with_predictive_coding_the_recording_holds_each_neurons_prediction_error(stubs, data, dataset_id):
    from neatai.discovery.loader import load_recording
    from neatai.evaluator.predictive_coding import settle
    from neatai.recording import PC_ERROR, SCHEMA_PC

    c = hidden_creature()
    pc = evaluator_pb2.PredictiveCodingOptions(enabled=True, max_inference_iterations=30, inference_rate=0.2)
    r = stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=dataset_id, creature=c.to_proto(), sample_rate=0.1,
                                                    seed=5, predictive_coding=pc), timeout=T)
    assert pq.read_schema(r.path).equals(SCHEMA_PC)
    chosen = json.loads(open(f"{r.directory}/selected_indices.json").read())[dataset_id]
    expected = settle(c, data.X[chosen], data.Y[chosen], max_iterations=30, inference_rate=0.2).errors[:, 2:]
    assert np.abs(expected[:, 0]).max() > 1e-3      # the hidden neuron really carries an error
    column = np.array(pq.read_table(r.path)[PC_ERROR].to_pylist(), dtype=object).reshape(-1, 4)
    assert all(v is None for v in column[:, 2:].ravel())   # input rows: null
    np.testing.assert_allclose(column[:, :2].astype(np.float64), expected, rtol=1e-5, atol=1e-6)
    loaded = load_recording(r.path, c)
    np.testing.assert_allclose(loaded.P[loaded.row("h")], expected[:, 0], rtol=1e-5, atol=1e-6)
    assert np.isnan(loaded.P[loaded.row("input-0")]).all()
    plain = stubs[0].Record(evaluator_pb2.RecordRequest(dataset_id=dataset_id, creature=c.to_proto(), seed=5),
                            timeout=T)
    assert pq.read_schema(plain.path).equals(SCHEMA) and load_recording(plain.path, c).P is None
    e = raised(lambda: stubs[0].Record(evaluator_pb2.RecordRequest(
        dataset_id=dataset_id, creature=c.to_proto(),
        predictive_coding=evaluator_pb2.PredictiveCodingOptions(enabled=True, inference_rate=-1)), timeout=T))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(e)] == ["predictive_coding.inference_rate"]
