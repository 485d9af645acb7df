"""Run in a fresh process by test_tracing.py: real evaluator and discovery servers in this
process with tracing on (in-memory exporter), one Discover call, then the spans as JSON lines."""
from __future__ import annotations

import json
import sys
import tempfile

import grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from neatai import tracing

exporter = InMemorySpanExporter()
tracing.init_tracing("probe", exporter=exporter)  # before any server or channel exists

from planted_discovery import planted_creature, planted_dataset  # noqa: E402

from neatai.datasets_servicer import upload_dataset  # noqa: E402
from neatai.discovery.server import start as start_discovery  # noqa: E402
from neatai.evaluator.server import start as start_evaluator  # noqa: E402
from neatai.evaluator.service import EvaluatorConfig  # noqa: E402
from neatai.server import ServerConfig  # noqa: E402
from neatai.v1 import dataset_pb2_grpc, discovery_pb2, discovery_pb2_grpc  # noqa: E402

loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
with tempfile.TemporaryDirectory() as tmp:
    evaluator = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60, recording_dir=f"{tmp}/rec"),
                                loopback)
    discovery = start_discovery([evaluator.address], f"{tmp}/cache", loopback, evaluator_threads=2)
    data = planted_dataset(n=600, seed=4)
    with grpc.insecure_channel(discovery.address) as channel:
        upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), data, timeout=30)
        request = discovery_pb2.DiscoverRequest(dataset_id=data.id, creature=planted_creature().to_proto(),
                                                options=discovery_pb2.DiscoverOptions(seed=1, sample_rate=0.5))
        (*_, last) = discovery_pb2_grpc.DiscoveryServiceStub(channel).Discover(request, timeout=60)
        assert last.result.improved, last
    discovery.stop(0)
    evaluator.stop(0)
tracing.shutdown_tracing()

for s in exporter.get_finished_spans():
    print(json.dumps({
        "name": s.name, "kind": s.kind.name,
        "trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x"),
        "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
    }))
sys.stdout.flush()
