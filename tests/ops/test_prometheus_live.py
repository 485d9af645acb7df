"""A real Prometheus (Debian `prometheus`, loopback, 1 s scrapes) scraping real evaluator,
evolver and discovery processes during runs (one of them with discovery on): every Grafana
panel query returns data, and every service's /metrics passes `promtool check metrics`."""
from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import grpc
import pytest

import dashboard_queries as dq
from ops_procs import Service
from planted_discovery import missing_synapse_dataset
from neatai.datasets import xor
from neatai.datasets_servicer import upload_dataset
from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
            if result:
                return result
        except OSError:
            pass
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prom")
    evaluator = Service("evaluator", "--threads", "1")
    evolver = discovery = None
    prometheus = None
    try:
        discovery = Service("discovery", "--evaluators", evaluator.address, "--cache-dir", str(tmp / "discovery"),
                            "--evaluator-threads", "1")
        evolver = Service("evolver", "--evaluators", evaluator.address, "--state-dir", str(tmp / "state"),
                          "--discovery", discovery.address)
        port = free_port()
        config = tmp / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": s.name, "static_configs": [{"targets": [f"127.0.0.1:{s.metrics_port}"]}]}
                for s in (evaluator, evolver, discovery)
            ],
        }))
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=(tmp / "prometheus.log").open("w"),
        )
        api = f"http://127.0.0.1:{port}/api/v1"
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200,
                 60, "Prometheus to be ready")
        wait_for(lambda: len([r for r in get_json(f"{api}/query?query=up%3D%3D1")["data"]["result"]]) == 3,
                 30, "the three services to be scraped")

        # A run long enough to be scraped while it evolves; stopped once the queries are done.
        channel = grpc.insecure_channel(evolver.address)
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=30).dataset_id
        stub = evolver_pb2_grpc.EvolverServiceStub(channel)
        run_id = stub.StartRun(evolver_pb2.StartRunRequest(
            config=evolver_pb2.RunConfig(population_size=30, iterations=100_000, seed=7, target_error=0.0),
            dataset_id=dataset_id), timeout=30).run_id
        # And one with discovery, for the discovery panels.
        data = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), missing_synapse_dataset(), timeout=30)
        discovering = stub.StartRun(evolver_pb2.StartRunRequest(
            config=evolver_pb2.RunConfig(population_size=20, iterations=100_000, seed=7, target_error=0.0,
                                         discovery_sample_rate=0.5, discovery_interval=3),
            dataset_id=data.dataset_id), timeout=30).run_id
        yield api, evaluator, evolver, discovery
        for run in (run_id, discovering):
            stub.StopRun(evolver_pb2.StopRunRequest(run_id=run), timeout=30)
        channel.close()
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        for s in (evolver, discovery, evaluator):
            if s is not None:
                s.terminate()
                s.wait(30)


def query(api: str, expr: str) -> list:
    body = get_json(f"{api}/query?" + urllib.parse.urlencode({"query": expr}))
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_every_dashboard_query_returns_data(stack):
    api, *_ = stack
    pending = dict(dq.queries(rate_interval="10s"))
    # Give the scrapes time to hold several samples of every series the panels read.
    end = time.monotonic() + 60
    while pending and time.monotonic() < end:
        time.sleep(1)
        for name, expr in list(pending.items()):
            if query(api, expr):
                del pending[name]
    assert not pending, f"panels with no data: {json.dumps(pending, indent=1)}"


def test_evolution_is_visible_in_prometheus(stack):
    api, *_ = stack
    wait_for(lambda: query(api, "max(neatai_evolution_generation) >= 2"), 60, "two generations")
    rate = query(api, "sum(rate(neatai_evolution_evaluations_total[10s]))")
    assert float(rate[0]["value"][1]) > 0
    calls = query(api, 'sum(grpc_client_handled_total{grpc_method="Evaluate",grpc_code="OK",grpc_type="unary"})')
    assert float(calls[0]["value"][1]) >= 2


def test_discovery_is_visible_in_prometheus(stack):
    api, *_ = stack
    wait_for(lambda: query(api, "sum(neatai_discovery_runs_total) >= 1"), 60, "a discovery run")
    scored = query(api, "sum(neatai_discovery_candidates_evaluated_total)")
    assert float(scored[0]["value"][1]) > 0
    calls = query(api, 'sum(grpc_server_handled_total{grpc_service="neatai.v1.DiscoveryService",grpc_method="Discover"})')
    assert float(calls[0]["value"][1]) >= 1


@pytest.mark.parametrize("service", ["evaluator", "evolver", "discovery"])
def test_metrics_endpoints_pass_promtool(stack, service):
    _, evaluator, evolver, discovery = stack
    port = {"evaluator": evaluator, "evolver": evolver, "discovery": discovery}[service].metrics_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
