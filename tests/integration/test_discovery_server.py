"""Discover on real servers (an evaluator and a discovery service on 127.0.0.1:0, real channels,
the real Record and Evaluate RPCs, caches on disk): progress then the result, a second run that
skips the cached failures, precise statuses for an unknown dataset, a bad creature, bad options,
a cancelled call and requests over the limits, with the caches intact and the server serving on.

The analysis step here reads the evaluator's real recording and answers the planted creature's
hand-built DiscoverResult (tests/planted_discovery.py); test_discovery_engine.py runs the engine."""
from __future__ import annotations

import time
from pathlib import Path

import grpc
import pyarrow.parquet as pq
import pytest
from planted_discovery import planted_creature, planted_dataset, planted_result

from neatai.creature import Creature, Limits
from neatai.datasets_servicer import upload_dataset
from neatai.discovery.server import start as start_discovery
from neatai.errors import field_violations, quota_violations
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.recording import SCHEMA
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, discovery_pb2, discovery_pb2_grpc

T = 30
DATA = planted_dataset()
RECORDINGS: list[int] = []


def analyse(path, creature, options, cancelled):
    """Check the recording is the evaluator's real Parquet file, then answer the planted result."""
    table = pq.read_table(path)
    assert table.schema.equals(SCHEMA, check_metadata=False)
    RECORDINGS.append(table.num_rows)
    return planted_result()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    recordings = tmp_path_factory.mktemp("recordings")
    evaluator = start_evaluator(EvaluatorConfig(threads=2, memory_check_interval_s=60, recording_dir=str(recordings)),
                                ServerConfig(host="127.0.0.1", port=0, grace_s=0))
    cache = tmp_path_factory.mktemp("cache")
    discovery = start_discovery([evaluator.address], cache, ServerConfig(host="127.0.0.1", port=0, grace_s=0),
                                analyse=analyse, evaluator_threads=2)
    evaluator.recordings = recordings
    yield evaluator, discovery, cache
    discovery.stop(0)
    evaluator.stop(0)


@pytest.fixture(scope="module")
def stub(servers):
    _, discovery, _ = servers
    with grpc.insecure_channel(discovery.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=T)
        upload_dataset(dataset_pb2_grpc.DatasetServiceStub(ch), DATA)
        yield discovery_pb2_grpc.DiscoveryServiceStub(ch)


def request(creature: Creature | None = None, **options) -> discovery_pb2.DiscoverRequest:
    return discovery_pb2.DiscoverRequest(dataset_id=DATA.id, creature=(creature or planted_creature()).to_proto(),
                                         options=discovery_pb2.DiscoverOptions(seed=1, **options))


def discover(stub, req) -> tuple[list, discovery_pb2.DiscoveryResult]:
    responses = list(stub.Discover(req, timeout=T))
    assert responses[-1].WhichOneof("event") == "result"
    return [r.progress for r in responses[:-1]], responses[-1].result


def test_progress_then_the_improved_creature_then_a_run_that_skips_cached_failures(stub, servers):
    _, _, cache = servers
    progress, result = discover(stub, request())
    assert [p.stage for p in progress] == [discovery_pb2.DISCOVERY_STAGE_RECORDING, discovery_pb2.DISCOVERY_STAGE_ANALYSIS,
                                           discovery_pb2.DISCOVERY_STAGE_PHASE1, discovery_pb2.DISCOVERY_STAGE_PHASE2]
    assert RECORDINGS and RECORDINGS[-1] == 40 * 5  # 20 % of 200 records × (2 neurons + 3 inputs)
    assert not [p for p in servers[0].recordings.iterdir() if p.is_dir()]  # analysed, then deleted
    assert result.improved and result.best.score > result.original_score
    best = Creature.from_proto(result.best.creature)
    assert ("input-1", "output-0") in {(s.from_uuid, s.to_uuid) for s in best.synapses}
    assert set(result.stage_seconds) == {"recording", "analysis", "phase1", "phase2", "total"}
    assert (cache / "diagnostics.json").exists() and list((cache / "failure").rglob("*.json"))
    failed = sum(d.evaluated - d.improved for d in result.diagnostics if d.change_type != "combo-successful")

    _, again = discover(stub, request())
    assert sum(d.skipped_cached for d in again.diagnostics) == failed

    stats = stub.GetDiscoveryStats(discovery_pb2.GetDiscoveryStatsRequest(), timeout=T)
    assert stats.runs >= 2 and stats.runs_improved >= 2 and stats.backend == "numpy"
    assert {e.cache for e in stats.cache_entries} == {"success", "failure"}
    assert any(t.change_type == "add-synapses" and t.evaluated >= 2 for t in stats.totals)


def cache_files(cache: Path) -> dict:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*.json"))
            if p.name != "diagnostics.json"}


def test_bad_requests_get_precise_statuses_and_leave_the_caches_as_they_were(stub, servers):
    _, _, cache = servers
    before = cache_files(cache)
    unknown = request()
    unknown.dataset_id = "sha256:" + "0" * 64
    with pytest.raises(grpc.RpcError) as e:
        discover(stub, unknown)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "RegisterDataset" in e.value.details()

    bad = request()
    bad.creature.synapses[0].to_uuid = "nowhere"
    with pytest.raises(grpc.RpcError) as e:
        discover(stub, bad)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(path.startswith("creature.synapses") for path, _ in field_violations(e.value))

    with pytest.raises(grpc.RpcError) as e:
        discover(stub, request(sample_rate=1.5, record_timeout_seconds=-1, focus_neuron_uuids=["ghost"]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {p for p, _ in field_violations(e.value)} == {"options.sample_rate", "options.record_timeout_seconds"}

    wide = Creature.from_json({"input": 4, "output": 1, "neurons": [
        {"uuid": "output-0", "type": "output", "bias": 0, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "input-3", "toUUID": "output-0", "weight": 1}]})
    with pytest.raises(grpc.RpcError) as e:
        discover(stub, request(wide))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "4 inputs" in e.value.details()
    assert cache_files(cache) == before


def test_a_cancelled_discovery_stops_and_caches_nothing(stub, servers):
    _, discovery, cache = servers
    before = cache_files(cache)
    call = stub.Discover(request(sample_rate=1.0), timeout=T)
    first = next(call)  # recording has started
    assert first.progress.stage == discovery_pb2.DISCOVERY_STAGE_RECORDING
    call.cancel()
    with pytest.raises(grpc.RpcError) as e:
        list(call)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    deadline = time.monotonic() + T
    while discovery.service.snapshot().in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert discovery.service.snapshot().runs["cancelled"] >= 1
    assert cache_files(cache) == before
    _, result = discover(stub, request())  # and it serves on
    assert result.discovery_id


def test_too_many_at_once_is_resource_exhausted(servers, stub):
    _, discovery, _ = servers
    held = [discovery.service._slots.acquire(blocking=False) for _ in range(discovery.service.config.max_concurrent)]
    try:
        with pytest.raises(grpc.RpcError) as e:
            discover(stub, request())
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        for ok in held:
            if ok:
                discovery.service._slots.release()



PLANTED = planted_creature()
ROWS = PLANTED.input + len(PLANTED.neurons)  # what one observation of the planted creature records


@pytest.mark.parametrize("limits, options, limit", [
    (dict(creature_limits=Limits(max_neurons=len(PLANTED.neurons) - 1)), {}, "max_neurons"),
    (dict(creature_limits=Limits(max_synapses=len(PLANTED.synapses) - 1)), {}, "max_synapses"),
    # 200 records at 0.5 are 100 observations: the limit; at 1.0 twice that.
    (dict(max_recording_values=100 * ROWS), dict(sample_rate=1.0), "max_recording_values"),
])
def test_requests_over_a_limit_are_resource_exhausted_naming_it_before_anything_is_recorded(
        servers, tmp_path, limits, options, limit):
    evaluator, _, _ = servers
    limited = start_discovery([evaluator.address], tmp_path, ServerConfig(host="127.0.0.1", port=0, grace_s=0),
                              analyse=analyse, evaluator_threads=2, **limits)
    recorded = len(RECORDINGS)
    try:
        with grpc.insecure_channel(limited.address) as ch:
            upload_dataset(dataset_pb2_grpc.DatasetServiceStub(ch), DATA, timeout=T)
            stub = discovery_pb2_grpc.DiscoveryServiceStub(ch)
            with pytest.raises(grpc.RpcError) as e:
                discover(stub, request(**options))
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and limit in e.value.details()
            assert [subject for subject, _ in quota_violations(e.value)] == [limit]
            assert len(RECORDINGS) == recorded and limited.service.snapshot().runs["failed"] == 0
            if limit == "max_recording_values":  # at the limit exactly: it runs
                discover(stub, request(sample_rate=0.5))
                assert len(RECORDINGS) == recorded + 1 and RECORDINGS[-1] <= 100 * ROWS
            else:  # and it serves on
                stub.GetDiscoveryStats(discovery_pb2.GetDiscoveryStatsRequest(), timeout=T)
    finally:
        limited.stop(0)
