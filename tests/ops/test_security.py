"""Transport security and access on real servers (loopback): certificates made here with the
`cryptography` package (a CA, server certificates for localhost/127.0.0.1, a client
certificate). With TLS, mutual TLS and a bearer token configured, only a client holding all
three gets an answer; health and reflection stay open for probes; the evolver reaches its
evaluators the same way; the metrics endpoint serves HTTPS to clients with a certificate only;
the command line takes the same flags and a refusal is one line."""
from __future__ import annotations

import datetime
import ipaddress
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from neatai.datasets import xor
from neatai.datasets_servicer import upload_dataset
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.security import ClientSecurity, SecurityError, ServerSecurity
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc

import sys
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from commands import neatai, one_clear_line  # noqa: E402

TOKEN = "s3cret-token-for-tests"
T = 30


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(directory: Path, stem: str, key, cert) -> None:
    (directory / f"{stem}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_pki(directory: Path) -> Path:
    """ca.crt, server.{crt,key} (localhost, 127.0.0.1), client.{crt,key}, named.{crt,key} (only
    the name "evaluator", as cert-manager issues it for every pod), rogue-ca.crt and rogue.{crt,key}
    (a client certificate from a CA nobody trusts), token.txt."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, key, issuer_key, ca=False, san=None, usage=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    loopback = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for ca_stem, leaves in (("ca", {"server": loopback, "client": loopback, "named": [x509.DNSName("evaluator")]}),
                            ("rogue-ca", {"rogue": loopback})):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = certificate(_name(ca_stem), _name(ca_stem), ca_key, ca_key, ca=True)
        _write(directory, ca_stem, ca_key, ca_cert)
        for leaf, san in leaves.items():
            key = ec.generate_private_key(ec.SECP256R1())
            usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            _write(directory, leaf, key, certificate(_name(leaf), _name(ca_stem), key, ca_key, san=san, usage=usage))
    (directory / "token.txt").write_text(f"# the evolver's token\n{TOKEN}\n")
    return directory


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def secured(pki: Path) -> ServerSecurity:
    return ServerSecurity(str(pki / "server.crt"), str(pki / "server.key"), str(pki / "ca.crt"), frozenset({TOKEN}))


def client(pki: Path, *, cert: str | None = "client", token: str | None = TOKEN) -> ClientSecurity:
    return ClientSecurity(str(pki / "ca.crt"), cert and str(pki / f"{cert}.crt"), cert and str(pki / f"{cert}.key"),
                          token)


@pytest.fixture(scope="module")
def services(pki):
    config = ServerConfig(host="127.0.0.1", port=0, grace_s=0, metrics_port=0, security=secured(pki), health_port=0)
    evaluator = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60), config)
    evolver = start_evolver([f"localhost:{evaluator.port}"], None, ServerConfig(
        host="127.0.0.1", port=0, grace_s=0, security=secured(pki)))
    yield evaluator, evolver
    evolver.stop(0)
    evaluator.stop(0)


def channel(port: int, security: ClientSecurity | None) -> grpc.Channel:
    target = f"localhost:{port}"
    return grpc.secure_channel(target, security.credentials()) if security else grpc.insecure_channel(target)


def list_runs(port: int, security: ClientSecurity | None):
    with channel(port, security) as c:
        return evolver_pb2_grpc.EvolverServiceStub(c).ListRuns(evolver_pb2.ListRunsRequest(), timeout=5)


def refused(port: int, security: ClientSecurity | None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        list_runs(port, security)
    return info.value


def test_only_a_client_with_tls_its_certificate_and_the_token_gets_an_answer(pki, services):
    _, evolver = services
    assert list(list_runs(evolver.port, client(pki)).runs) == []
    assert refused(evolver.port, None).code() == grpc.StatusCode.UNAVAILABLE  # plaintext: no handshake
    assert refused(evolver.port, client(pki, cert=None)).code() == grpc.StatusCode.UNAVAILABLE  # no certificate
    assert refused(evolver.port, client(pki, cert="rogue")).code() == grpc.StatusCode.UNAVAILABLE  # untrusted CA
    for token in (None, "wrong-token"):
        error = refused(evolver.port, client(pki, token=token))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in error.details()


def test_health_and_reflection_stay_open_without_a_token(pki, services):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    _, evolver = services
    with channel(evolver.port, client(pki, token=None)) as c:
        answer = health_pb2_grpc.HealthStub(c).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        listing = next(iter(reflection_pb2_grpc.ServerReflectionStub(c).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)))
        assert "neatai.v1.EvolverService" in {s.name for s in listing.list_services_response.service}


def test_a_plaintext_health_port_answers_kubelet_probes_and_nothing_else(services):
    evaluator, _ = services
    with grpc.insecure_channel(f"127.0.0.1:{evaluator.health_port}") as c:
        answer = health_pb2_grpc.HealthStub(c).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            evolver_pb2_grpc.EvolverServiceStub(c).ListRuns(evolver_pb2.ListRunsRequest(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_evolver_scores_on_its_evaluators_over_mutual_tls_with_its_token(pki, services):
    _, evolver = services
    with channel(evolver.port, client(pki)) as c:
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(c), xor(), timeout=T).dataset_id
        stub = evolver_pb2_grpc.EvolverServiceStub(c)
        run_id = stub.StartRun(evolver_pb2.StartRunRequest(
            config=evolver_pb2.RunConfig(population_size=20, seed=1, iterations=3, target_error=0.0),
            dataset_id=dataset_id), timeout=T).run_id
        reports = [m.report for m in stub.WatchRun(evolver_pb2.WatchRunRequest(run_id=run_id), timeout=T)]
        assert [r.generation for r in reports] == [1, 2, 3] and reports[-1].unreachable_evaluators == []
        assert stub.GetRun(evolver_pb2.GetRunRequest(run_id=run_id), timeout=T).run.state == \
            evolver_pb2.RUN_STATE_EXHAUSTED


def test_the_evolver_checks_one_name_on_evaluators_whose_certificate_carries_no_address(pki):
    """As in Kubernetes: the evolver dials pod addresses, the certificate names "evaluator"."""
    named = ServerSecurity(str(pki / "named.crt"), str(pki / "named.key"), str(pki / "ca.crt"))
    evaluator = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60),
                                ServerConfig(host="127.0.0.1", port=0, grace_s=0, security=named))
    own = ServerConfig(host="127.0.0.1", port=0, grace_s=0, security=secured(pki))
    try:
        for server_name, reachable in ((None, False), ("evaluator", True)):
            evolver = start_evolver([evaluator.address], None, own, tls_server_name=server_name)
            try:  # the evolver's own channel to the evaluator, as its batches use it
                health = evolver.pool.endpoints[0].health
                check = lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5)  # noqa: E731
                if reachable:
                    assert check().status == health_pb2.HealthCheckResponse.SERVING
                else:
                    with pytest.raises(grpc.RpcError) as info:
                        check()
                    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # 127.0.0.1 is not in the certificate
            finally:
                evolver.stop(0)
    finally:
        evaluator.stop(0)


def test_the_metrics_endpoint_serves_https_to_clients_with_a_certificate(pki, services):
    evaluator, _ = services
    url = f"https://localhost:{evaluator.metrics_port}/metrics"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    assert b"grpc_server_handled_total" in urllib.request.urlopen(url, context=context, timeout=5).read()
    anonymous = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(url, context=anonymous, timeout=5).read()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://localhost:{evaluator.metrics_port}/metrics", timeout=5).read()


def test_the_command_line_takes_the_same_flags_and_a_refusal_is_one_line(pki, services, tmp_path):
    _, evolver = services
    address = f"localhost:{evolver.port}"
    tls = ["--tls-ca", str(pki / "ca.crt"), "--tls-cert", str(pki / "client.crt"), "--tls-key", str(pki / "client.key")]
    ok = neatai("runs", "--evolver", address, *tls, "--auth-token-file", str(pki / "token.txt"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    no_token = neatai("runs", "--evolver", address, *tls, cwd=tmp_path)
    assert "UNAUTHENTICATED" in one_clear_line(no_token, 1)
    run = neatai("run", "--evolver", address, *tls, "--auth-token-file", str(pki / "token.txt"), "--generations", "3",
                 "--seed", "1", "--json", "--out", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    plaintext_token = neatai("runs", "--evolver", address, "--auth-token-file", str(pki / "token.txt"), cwd=tmp_path)
    assert "needs TLS" in plaintext_token.stderr and plaintext_token.returncode == 2


def test_half_configured_security_is_refused_before_anything_listens(pki):
    with pytest.raises(SecurityError, match="--tls-cert and --tls-key go together"):
        ServerSecurity(str(pki / "server.crt"))
    with pytest.raises(SecurityError, match="needs TLS"):
        ClientSecurity(token=TOKEN)
    from neatai.evaluator.server import main, parse_args

    with pytest.raises(SystemExit):
        parse_args(["--tls-cert", str(pki / "server.crt")])
    assert main(["--port", "0", "--metrics-port", "none", "--tls-cert", str(pki / "server.crt"),
                 "--tls-key", str(pki / "missing.key")]) == 1
