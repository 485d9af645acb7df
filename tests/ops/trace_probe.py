"""Run in a fresh process by test_tracing.py (tracing patches grpc globally, so it must not leak
into the test process): traces a "generation" whose work runs on a worker thread and calls the
echo service, plus a health check, and prints the finished spans as JSON lines."""
from __future__ import annotations

import json
import sys
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).parent))
import ops_echo  # noqa: E402

from neatai import tracing  # noqa: E402
from neatai.grpc_metrics import instrumented_channel  # noqa: E402

exporter = InMemorySpanExporter()
assert tracing.init_tracing("probe", exporter=exporter) is not None
server, port = ops_echo.start()  # created after init_tracing: instrumented
health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
channel = instrumented_channel(f"127.0.0.1:{port}")
stub = ops_echo.Stub(channel)
pool = futures.ThreadPoolExecutor(max_workers=2)

with tracing.span("generation", run_id="r1", generation=3):
    with tracing.span("evaluate"):
        assert pool.submit(tracing.carry_context(stub.Unary), b"hi", timeout=5).result() == b"hi"
    with tracing.span("speciate"):
        pass
health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
channel.close()
server.stop(1).wait()
tracing.shutdown_tracing()

for s in exporter.get_finished_spans():
    print(json.dumps({
        "name": s.name,
        "kind": s.kind.name,
        "trace_id": format(s.context.trace_id, "032x"),
        "span_id": format(s.context.span_id, "016x"),
        "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
        "attributes": {k: v for k, v in s.attributes.items() if isinstance(v, (str, int, float))},
        "service": s.resource.attributes.get("service.name"),
    }))
