"""Run in a fresh process by test_tracing.py: real evaluator and evolver servers in this process
with tracing on (in-memory exporter), a short XOR run, then the finished spans as JSON lines."""
from __future__ import annotations

import json
import sys
import tempfile

import grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from neatai import tracing

exporter = InMemorySpanExporter()
tracing.init_tracing("probe", exporter=exporter)  # before any server or channel exists

from neatai.datasets import xor  # noqa: E402
from neatai.datasets_servicer import upload_dataset  # noqa: E402
from neatai.evaluator.server import start as start_evaluator  # noqa: E402
from neatai.evaluator.service import EvaluatorConfig  # noqa: E402
from neatai.evolver.server import start as start_evolver  # noqa: E402
from neatai.server import ServerConfig  # noqa: E402
from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc  # noqa: E402

loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
evaluator = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60), loopback)
with tempfile.TemporaryDirectory() as state:
    evolver = start_evolver([evaluator.address], state, ServerConfig(host="127.0.0.1", port=0, grace_s=0),
                            rpc_timeout=10)
    channel = grpc.insecure_channel(evolver.address)
    dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=30).dataset_id
    stub = evolver_pb2_grpc.EvolverServiceStub(channel)
    run_id = stub.StartRun(evolver_pb2.StartRunRequest(
        config=evolver_pb2.RunConfig(population_size=20, iterations=2, seed=1), dataset_id=dataset_id), timeout=30).run_id
    reports = [m.report for m in stub.WatchRun(evolver_pb2.WatchRunRequest(run_id=run_id), timeout=120)]
    assert reports and reports[-1].generation == 2, reports
    channel.close()
    evolver.stop(0)
evaluator.stop(0)
tracing.shutdown_tracing()

for s in exporter.get_finished_spans():
    print(json.dumps({
        "name": s.name, "kind": s.kind.name,
        "trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x"),
        "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
        "attributes": {k: v for k, v in s.attributes.items() if isinstance(v, (str, int, float))},
    }))
sys.stdout.flush()
