"""Tracing: off unless OTEL_* asks for it; when on, one trace runs from a generation span through
a worker thread and the gRPC client into the server, and health checks stay untraced."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neatai import tracing

HERE = Path(__file__).parent


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


def exporter_name(env):
    e = tracing._exporter_from_env()
    return type(e).__name__ if e is not None else None


def test_no_exporter_without_otel_env(clean_env):
    assert exporter_name(clean_env) is None


def test_endpoint_alone_selects_otlp(clean_env):
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert exporter_name(clean_env) == "OTLPSpanExporter"


def test_explicit_exporters(clean_env):
    clean_env.setenv("OTEL_TRACES_EXPORTER", "console")
    assert exporter_name(clean_env) == "ConsoleSpanExporter"
    clean_env.setenv("OTEL_TRACES_EXPORTER", "none")
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert exporter_name(clean_env) is None


def test_sdk_disabled_wins(clean_env):
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    clean_env.setenv("OTEL_TRACES_EXPORTER", "otlp")
    clean_env.setenv("OTEL_SDK_DISABLED", "true")
    assert exporter_name(clean_env) is None


def test_unconfigured_init_leaves_grpc_unpatched():
    code = (
        "import grpc; original = grpc.server\n"
        "from neatai import tracing\n"
        "assert tracing.init_tracing('x') is None\n"
        "assert grpc.server is original\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_one_trace_from_generation_span_to_server_span():
    out = subprocess.run(
        [sys.executable, str(HERE / "trace_probe.py")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    spans = [json.loads(line) for line in out.stdout.splitlines()]
    by_name = {}
    for s in spans:
        by_name.setdefault((s["name"], s["kind"]), s)
    generation = by_name[("generation", "INTERNAL")]
    evaluate = by_name[("evaluate", "INTERNAL")]
    client = by_name[(f"/{'neatai.test.EchoService'}/Unary", "CLIENT")]
    server = by_name[(f"/{'neatai.test.EchoService'}/Unary", "SERVER")]

    assert {generation["trace_id"], evaluate["trace_id"], client["trace_id"], server["trace_id"]} == {
        generation["trace_id"]
    }
    assert evaluate["parent_id"] == generation["span_id"]
    assert client["parent_id"] == evaluate["span_id"]  # crossed the worker thread
    assert server["parent_id"] == client["span_id"]  # crossed the wire (W3C traceparent)
    assert generation["attributes"] == {"neatai.run_id": "r1", "neatai.generation": 3}
    assert generation["service"] == "neatai-probe"
    assert not [s for s in spans if "Health" in s["name"]], "health checks must not be traced"


def test_evolver_generation_traces_into_the_evaluator():
    out = subprocess.run(
        [sys.executable, str(HERE / "trace_run_probe.py")], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-4000:]
    spans = [json.loads(line) for line in out.stdout.splitlines()]
    by_id = {s["span_id"]: s for s in spans}
    generations = [s for s in spans if s["name"] == "generation"]
    assert sorted(g["attributes"]["neatai.generation"] for g in generations) == [1, 2]
    for g in generations:
        assert g["parent_id"] is None and g["attributes"]["neatai.run_id"]
        children = {s["name"] for s in spans if s["parent_id"] == g["span_id"]}
        assert {"evaluate", "speciate", "checkpoint"} <= children, children
    assert any(s["name"] == "reproduce" for s in spans)  # every generation but the last

    evaluate_method = "/neatai.v1.EvaluatorService/Evaluate"
    servers = [s for s in spans if s["name"] == evaluate_method and s["kind"] == "SERVER"]
    assert servers
    for server in servers:
        client = by_id[server["parent_id"]]
        evaluate = by_id[client["parent_id"]]
        generation = by_id[evaluate["parent_id"]]
        assert (client["name"], client["kind"]) == (evaluate_method, "CLIENT")
        assert (evaluate["name"], generation["name"]) == ("evaluate", "generation")
        assert server["trace_id"] == client["trace_id"] == evaluate["trace_id"] == generation["trace_id"]
    assert not [s for s in spans if "grpc.health" in s["name"]]


def test_a_discovery_traces_each_stage_and_its_evaluator_calls():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(HERE / "trace_discovery_probe.py")], capture_output=True, text=True,
                         timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    spans = [json.loads(line) for line in out.stdout.splitlines()]
    by_id = {s["span_id"]: s for s in spans}
    (server,) = [s for s in spans if s["name"] == "/neatai.v1.DiscoveryService/Discover" and s["kind"] == "SERVER"]
    stages = {s["name"]: s for s in spans if s["name"].startswith("discovery.")}
    assert set(stages) == {"discovery.recording", "discovery.analysis", "discovery.phase1", "discovery.phase2"}
    assert all(s["parent_id"] == server["span_id"] for s in stages.values())

    def stage_of(span):
        while span["parent_id"] in by_id and not span["name"].startswith("discovery."):
            span = by_id[span["parent_id"]]
        return span["name"]

    calls = [s for s in spans if s["kind"] == "CLIENT" and s["trace_id"] == server["trace_id"]]
    assert "discovery.recording" in {stage_of(s) for s in calls if s["name"].endswith("/Record")}
    assert {"discovery.phase1", "discovery.phase2"} <= {stage_of(s) for s in calls if s["name"].endswith("/Evaluate")}


def test_excluded_services_from_env_are_not_traced_and_health_still_is_not():
    env = {**os.environ, "OTEL_PYTHON_GRPC_EXCLUDED_SERVICES": "neatai.test.EchoService"}
    out = subprocess.run(
        [sys.executable, str(HERE / "trace_probe.py")], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    names = {json.loads(line)["name"] for line in out.stdout.splitlines()}
    assert {"generation", "evaluate", "speciate"} <= names
    assert not [n for n in names if "EchoService" in n or "Health" in n], names
