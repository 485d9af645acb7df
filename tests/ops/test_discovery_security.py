"""The discovery service under the same transport security as the other services, on real
servers (loopback) with the certificates test_security.py makes: `neatai serve discovery`
serves mutual TLS with bearer tokens (health open, a plaintext health port for probes), and an
evolver → discovery → evaluator chain runs under mutual TLS end to end, each caller presenting
its own certificate and token, discovery checking the evaluators' one name (--tls-server-name)
on the evaluator it scores on and the recorder it records on."""
from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from planted_discovery import missing_synapse_dataset
from test_security import client, make_pki, secured

from neatai.datasets_servicer import upload_dataset
from neatai.discovery.server import main as discovery_main
from neatai.discovery.server import start as start_discovery
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.security import ServerSecurity
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, discovery_pb2, discovery_pb2_grpc, evolver_pb2, evolver_pb2_grpc

T = 30


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def chain(pki, tmp_path_factory):
    """An evaluator whose certificate names only "evaluator" (as in Kubernetes) and records; a
    discovery service that scores and records on it by address; an evolver that calls both."""
    named = ServerSecurity(str(pki / "named.crt"), str(pki / "named.key"), str(pki / "ca.crt"),
                           secured(pki).tokens)
    evaluator = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60,
                                                recording_dir=str(tmp_path_factory.mktemp("recordings"))),
                                ServerConfig(host="127.0.0.1", port=0, grace_s=0, security=named))
    discovery = start_discovery([evaluator.address], tmp_path_factory.mktemp("cache"),
                                ServerConfig(host="127.0.0.1", port=0, grace_s=0, security=secured(pki),
                                             health_port=0),
                                recorder=evaluator.address, evaluator_threads=1, tls_server_name="evaluator")
    evolver = start_evolver([evaluator.address], None, ServerConfig(host="127.0.0.1", port=0, grace_s=0,
                                                                    security=secured(pki)),
                            tls_server_name="evaluator", discovery=f"localhost:{discovery.port}",
                            discovery_timeout=T)
    yield evaluator, discovery, evolver
    for s in (evolver, discovery, evaluator):
        s.stop(0)


def channel(port: int, security) -> grpc.Channel:
    return grpc.secure_channel(f"localhost:{port}", security.credentials()) if security else \
        grpc.insecure_channel(f"localhost:{port}")


def discovery_stats(port: int, security):
    with channel(port, security) as c:
        return discovery_pb2_grpc.DiscoveryServiceStub(c).GetDiscoveryStats(
            discovery_pb2.GetDiscoveryStatsRequest(), timeout=5)


def test_discovery_answers_only_a_client_with_its_certificate_and_token(pki, chain):
    _, discovery, _ = chain
    assert discovery_stats(discovery.port, client(pki)).backend
    for security in (None, client(pki, cert=None), client(pki, cert="rogue")):  # plaintext, no or untrusted cert
        with pytest.raises(grpc.RpcError) as info:
            discovery_stats(discovery.port, security)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as info:
        discovery_stats(discovery.port, client(pki, token=None))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in info.value.details()


def test_discovery_health_stays_open_over_tls_and_on_its_plaintext_port(pki, chain):
    _, discovery, _ = chain
    request = health_pb2.HealthCheckRequest()
    for c in (channel(discovery.port, client(pki, token=None)),
              grpc.insecure_channel(f"127.0.0.1:{discovery.health_port}")):
        with c:
            assert health_pb2_grpc.HealthStub(c).Check(request, timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING


def test_an_evolver_run_discovers_through_discovery_and_the_evaluator_over_mutual_tls(pki, chain):
    _, discovery, evolver = chain
    with channel(evolver.port, client(pki)) as c:
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(c), missing_synapse_dataset(),
                                    timeout=T).dataset_id
        stub = evolver_pb2_grpc.EvolverServiceStub(c)
        config = evolver_pb2.RunConfig(population_size=20, seed=5, target_error=0.0, timeout_seconds=60.0,
                                       discovery_sample_rate=0.5, discovery_interval=1, discovery_plateau=1)
        run_id = stub.StartRun(evolver_pb2.StartRunRequest(config=config, dataset_id=dataset_id), timeout=T).run_id
        found = None
        for message in stub.WatchRun(evolver_pb2.WatchRunRequest(run_id=run_id), timeout=90):
            assert not message.report.unreachable_evaluators
            if message.report.discovery_runs:
                found = message.report
                break
        stub.StopRun(evolver_pb2.StopRunRequest(run_id=run_id), timeout=T)
    assert found is not None, "no discovery finished"
    assert found.discovery_error == "" and found.discovery_seconds > 0  # recorded, analysed and scored
    totals = discovery.service.snapshot().runs
    assert totals["failed"] == 0 and totals["improved"] + totals["unimproved"] >= 1


def test_the_command_line_reports_unreadable_tls_files_in_one_line(pki, tmp_path, capsys):
    assert discovery_main(["--port", "0", "--metrics-port", "none", "--cache-dir", str(tmp_path),
                           "--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "missing.key")]) == 1
    assert "--tls-key" in capsys.readouterr().err
