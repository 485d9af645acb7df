"""`neatai serve discovery` as a process: serves health and reflection, answers GetDiscoveryStats,
and on SIGTERM lets a Discover call in flight finish (NOT_SERVING to new callers), then exits 0."""
from __future__ import annotations

import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ops_procs import Service
from planted_discovery import planted_creature, planted_dataset

from neatai.datasets_servicer import upload_dataset
from neatai.v1 import dataset_pb2_grpc, discovery_pb2, discovery_pb2_grpc


def test_a_discovery_in_flight_finishes_after_sigterm_and_the_server_exits_0(tmp_path):
    evaluator = Service("evaluator", "--threads", "1", "--metrics-port", "none", "--recording-dir", str(tmp_path / "rec"))
    discovery = None
    try:
        discovery = Service("discovery", "--evaluators", evaluator.address, "--cache-dir", str(tmp_path / "cache"),
                            "--grace", "30")
        data = planted_dataset(n=4000)
        with grpc.insecure_channel(discovery.address) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            assert health.Check(health_pb2.HealthCheckRequest(service="neatai.v1.DiscoveryService"),
                                timeout=5).status == health_pb2.HealthCheckResponse.SERVING
            upload_dataset(dataset_pb2_grpc.DatasetServiceStub(ch), data)
            stub = discovery_pb2_grpc.DiscoveryServiceStub(ch)
            stats = stub.GetDiscoveryStats(discovery_pb2.GetDiscoveryStatsRequest(), timeout=5)
            assert stats.backend in ("numpy", "cupy") and stats.runs == 0
            call = stub.Discover(discovery_pb2.DiscoverRequest(
                dataset_id=data.id, creature=planted_creature().to_proto(),
                options=discovery_pb2.DiscoverOptions(sample_rate=1.0, seed=1)), timeout=60)
            first = next(call)
            assert first.progress.stage == discovery_pb2.DISCOVERY_STAGE_RECORDING
            discovery.terminate()
            rest = list(call)  # drained: the call runs to its result
            assert rest[-1].WhichOneof("event") == "result" and rest[-1].result.discovery_id
        assert discovery.wait(timeout=40) == 0, discovery.log()
    finally:
        for s in (discovery, evaluator):
            if s is not None:
                s.kill()
