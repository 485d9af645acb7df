"""Kubernetes manifests: every overlay and test scenario renders with `kubectl kustomize`, passes
`kubernetes-validate --strict`, and keeps the invariants a gRPC service needs (numeric gRPC
probes, resources, non-root read-only pods, selectors that line up, a drain that fits the
termination grace period). The Dockerfile agrees with the pods (entrypoint, user). The
discovery pod records on its own evaluator sidecar, reads what it writes, keeps its caches on a
PVC, and gets a GPU where the gpu component is applied."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neatai.discovery.server import parse_args as discovery_args
from neatai.evaluator.server import parse_args as evaluator_args
from neatai.evolver.server import parse_args as evolver_args

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TARGETS = sorted(
    [p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml")]
    + [p.parent for p in (K8S / "tests").glob("*/kustomization.yaml")]
)
WORKLOADS = ("Deployment", "StatefulSet")
RUN_AS = 10001
PARSERS = {"evaluator": evaluator_args, "evolver": evolver_args, "discovery": discovery_args}
# Sidecars: container name -> the service it runs.
SIDECARS = {"recorder": "evaluator"}


def render(target: Path) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(target)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module", params=TARGETS, ids=lambda p: str(p.relative_to(K8S)))
def rendered(request, tmp_path_factory):
    docs = render(request.param)
    path = tmp_path_factory.mktemp("k8s") / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return request.param, docs, path


def of_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_every_overlay_and_scenario_is_checked():
    names = {str(t.relative_to(K8S)) for t in TARGETS}
    assert {"overlays/dev", "overlays/prod", "tests/gpu-evaluator"} <= names


def test_strict_schema_validation(rendered):
    _, _, path = rendered
    validate = Path(sys.executable).with_name("kubernetes-validate")
    out = subprocess.run([str(validate), "--strict", "--quiet", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    # Only the operators' CRDs lack a schema (their fields are checked below).
    warnings = [line for line in out.stdout.splitlines() if line.startswith("WARN")]
    assert all(re.search(r"kind (ServiceMonitor|Certificate|Issuer) ", w) for w in warnings), warnings


def test_workloads(rendered):
    _, docs, _ = rendered
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    assert {w["metadata"]["name"] for w in workloads} >= {"evaluator", "evolver", "discovery"}
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == RUN_AS
        assert pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            name = f'{w["metadata"]["name"]}/{c["name"]}'
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert all(p.get("name") for p in c["ports"]), f"{name}: unnamed port"
            assert {"grpc", "metrics"} <= set(ports), name
            # With TLS the kubelet (which speaks no TLS) probes the plaintext health port.
            probed = ports["health"] if any(a.startswith("--tls-cert") for a in c["args"]) else ports["grpc"]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                port = c[probe]["grpc"]["port"]
                assert isinstance(port, int) and port == probed, f"{name} {probe}: {port!r}"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{name}: {kind}"
            # Memory limit == request: an OOM kill is then deterministic, never a neighbour's fault.
            assert c["resources"]["limits"]["memory"] == c["resources"]["requests"]["memory"], name
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be a writable emptyDir"
            # The drain must fit: preStop sleep + the server's grace period, with room to flush.
            pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
            args = c["args"]
            grace = float(args[args.index("--grace") + 1])
            assert pod["terminationGracePeriodSeconds"] >= pre_stop + grace + 10, name
            service = w["metadata"]["name"] if c is pod["containers"][0] else SIDECARS[c["name"]]
            assert args[0] == service, f"{name}: image entrypoint is `neatai serve <service>`"
            assert args[args.index("--port") + 1] == str(ports["grpc"])
            assert args[args.index("--metrics-port") + 1] == str(ports["metrics"])
            # The flags exist: the service's own parser accepts them (POD_NAMESPACE is expanded by k8s).
            PARSERS[args[0]]([a.replace("$(POD_NAMESPACE)", "ns") for a in args[1:]])


def test_evolver_keeps_checkpoints_on_its_own_volume(rendered):
    _, docs, _ = rendered
    (sts,) = [d for d in of_kind(docs, "StatefulSet") if d["metadata"]["name"] == "evolver"]
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    c = sts["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    checkpoint_dir = c["args"][c["args"].index("--state-dir") + 1]
    assert "checkpoints" in claims and checkpoint_dir.startswith(mounts["checkpoints"] + "/")
    (svc,) = [s for s in of_kind(docs, "Service") if s["metadata"]["name"] == sts["spec"]["serviceName"]]
    assert svc["spec"]["clusterIP"] == "None"


def test_evolver_balances_over_the_headless_evaluator_service(rendered):
    _, docs, _ = rendered
    (sts,) = [d for d in of_kind(docs, "StatefulSet") if d["metadata"]["name"] == "evolver"]
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    target = args[args.index("--evaluators") + 1]
    m = re.fullmatch(r"dns:///(\w[\w-]*)\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local:(\d+)", target)
    assert m, target
    (svc,) = [s for s in of_kind(docs, "Service") if s["metadata"]["name"] == m.group(1)]
    assert svc["spec"]["clusterIP"] == "None", "round_robin needs one DNS record per pod"
    grpc_port = {p["name"]: p for p in svc["spec"]["ports"]}["grpc"]
    assert grpc_port["port"] == grpc_port["targetPort"] == int(m.group(2))


def test_services_select_workloads_and_name_their_ports(rendered):
    _, docs, _ = rendered
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] in WORKLOADS]
    for svc in of_kind(docs, "Service"):
        assert any(selects(svc["spec"]["selector"], labels) for labels in pods), svc["metadata"]["name"]
        assert all(p.get("name") for p in svc["spec"]["ports"])


def test_pdb_and_hpa_target_the_evaluator(rendered):
    _, docs, _ = rendered
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    (pdb,) = of_kind(docs, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"], deployments["evaluator"]["spec"]["template"]["metadata"]["labels"])
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    target = deployments[hpa["spec"]["scaleTargetRef"]["name"]]
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert target["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"] or hpa["spec"]["minReplicas"] == 1


def test_service_monitors_match_services_and_ports(rendered):
    target, docs, _ = rendered
    monitors = of_kind(docs, "ServiceMonitor")
    if "overlays" not in target.parts:
        return  # scenarios without the monitoring component
    assert {m["metadata"]["name"] for m in monitors} == {"evaluator", "evolver", "discovery"}
    services = of_kind(docs, "Service")
    for m in monitors:
        matched = [s for s in services if selects(m["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        assert len(matched) == 1, m["metadata"]["name"]
        port_names = {p["name"] for p in matched[0]["spec"]["ports"]}
        assert {e["port"] for e in m["spec"]["endpoints"]} <= port_names
        assert m["metadata"]["namespace"] == matched[0]["metadata"]["namespace"]


def test_dashboard_config_map(rendered):
    target, docs, _ = rendered
    if "overlays" not in target.parts:
        return
    (cm,) = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == "neatai-dashboards"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    source = K8S / "components" / "monitoring" / "dashboards" / "neatai.json"
    assert json.loads(cm["data"]["neatai.json"]) == json.loads(source.read_text())


def test_tracing_only_where_the_component_is(rendered):
    target, docs, _ = rendered
    for w in (d for d in docs if d["kind"] in WORKLOADS):
        env = {e["name"]: e.get("value") for e in w["spec"]["template"]["spec"]["containers"][0]["env"]}
        if target.name == "prod":
            assert env["OTEL_TRACES_EXPORTER"] == "otlp" and env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4317")
        else:
            assert not any(k.startswith("OTEL_") for k in env)


def uses_gpu_component(target: Path) -> bool:
    return "../../components/gpu" in yaml.safe_load((target / "kustomization.yaml").read_text()).get("components", [])


def test_gpu_component_requests_a_gpu_only_where_asked(rendered):
    target, docs, _ = rendered
    for w in (d for d in docs if d["kind"] in WORKLOADS):
        pod = w["spec"]["template"]["spec"]
        wants = w["metadata"]["labels"].get("neatai.dev/accelerator") == "gpu"
        has = "nvidia.com/gpu" in pod["containers"][0]["resources"]["limits"]
        # Without the component a labelled workload runs on the CPU (discovery falls back to NumPy).
        assert has == (wants and uses_gpu_component(target)), w["metadata"]["name"]
        assert all("nvidia.com/gpu" not in c["resources"]["limits"] for c in pod["containers"][1:])
        if has:
            assert pod["nodeSelector"]["nvidia.com/gpu.present"] == "true"
            assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    if target.name == "prod":
        (d,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "discovery"]
        assert "nvidia.com/gpu" in d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    if target.name == "gpu-evaluator":
        assert any(w["metadata"]["labels"].get("neatai.dev/accelerator") == "gpu" for w in of_kind(docs, "Deployment"))


def test_dockerfile_matches_the_pods():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM .+ AS builder$", text, re.M) and re.search(r"^FROM .+ AS runtime$", text, re.M)
    runtime = text.split(" AS runtime", 1)[1]
    assert "build-essential" not in runtime, "no compiler in the runtime image"
    assert f"USER {RUN_AS}:{RUN_AS}" in runtime
    assert 'ENTRYPOINT ["neatai", "serve"]' in runtime and 'CMD ["evaluator"]' in runtime
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "shared/v1", "node_modules"} <= set(ignored)


def test_dockerfile_copies_sources_the_build_context_keeps():
    import fnmatch

    ignored = [p for p in (ROOT / ".dockerignore").read_text().split() if not p.startswith("#")]
    builder = (ROOT / "Dockerfile").read_text().split(" AS runtime", 1)[0]
    sources = [src for line in builder.splitlines() if line.startswith("COPY ") and "--from" not in line
               for src in line.split()[1:-1]]
    assert {"requirements.txt", "pyproject.toml", "setup.py", "protos", "shared", "services"} <= set(sources)
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not any(fnmatch.fnmatch(src, pattern) for pattern in ignored), f"{src} is excluded by .dockerignore"
    # What setup.py builds from must reach the builder: every .pyx and .proto is a tracked source.
    assert list((ROOT / "protos").rglob("*.proto")) and list((ROOT / "services").rglob("*.pyx"))


def test_discovery_reads_the_recordings_its_sidecar_writes_and_keeps_its_caches(rendered):
    _, docs, _ = rendered
    (d,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "discovery"]
    pod = d["spec"]["template"]["spec"]
    discovery, recorder = pod["containers"]
    args, sidecar = discovery["args"], recorder["args"]
    ports = {p["name"]: p["containerPort"] for p in recorder["ports"]}
    assert args[args.index("--recorder") + 1] == f"127.0.0.1:{ports['grpc']}"
    recordings = sidecar[sidecar.index("--recording-dir") + 1]
    mounts = [{m["mountPath"]: m["name"] for m in c["volumeMounts"]} for c in (discovery, recorder)]
    assert mounts[0].get(recordings) == mounts[1].get(recordings) == "recordings"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["recordings"]
    cache = args[args.index("--cache-dir") + 1]
    claim = volumes[mounts[0][cache]]["persistentVolumeClaim"]["claimName"]
    assert claim in {p["metadata"]["name"] for p in of_kind(docs, "PersistentVolumeClaim")}
    assert d["spec"]["strategy"]["type"] == "Recreate"  # a ReadWriteOnce volume moves between pods
    (evolver,) = [s for s in of_kind(docs, "StatefulSet") if s["metadata"]["name"] == "evolver"]
    evolver_args = evolver["spec"]["template"]["spec"]["containers"][0]["args"]
    target = evolver_args[evolver_args.index("--discovery") + 1]
    (svc,) = [s for s in of_kind(docs, "Service") if s["metadata"]["name"] == target.split(".")[0]]
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]}["grpc"] == int(target.rsplit(":", 1)[1])
def _flags(args: list[str]) -> dict[str, str]:
    """--flag=value and --flag value forms."""
    out, i = {}, 0
    while i < len(args):
        if args[i].startswith("--") and "=" in args[i]:
            key, value = args[i].split("=", 1)
            out[key] = value
        elif args[i].startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[args[i]] = args[i + 1]
            i += 1
        i += 1
    return out


def test_tls_certificates_come_from_secrets_cert_manager_issues(rendered):
    target, docs, _ = rendered
    certificates = {c["metadata"]["name"]: c for c in of_kind(docs, "Certificate")}
    if target.name != "prod":
        assert not certificates
        return
    issuers = {i["metadata"]["name"]: i for i in of_kind(docs, "Issuer")}
    for cert in certificates.values():
        assert cert["apiVersion"] == "cert-manager.io/v1"
        assert cert["spec"]["issuerRef"]["kind"] == "Issuer" and cert["spec"]["issuerRef"]["name"] in issuers
        assert cert["spec"]["secretName"]
    assert issuers["neatai-ca"]["spec"]["ca"]["secretName"] == certificates["neatai-ca"]["spec"]["secretName"]
    by_secret = {c["spec"]["secretName"]: c for c in certificates.values()}
    served = {}  # service (first arg) → the certificates its containers serve
    for w in (d for d in docs if d["kind"] in WORKLOADS):
        pod = w["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:  # discovery's recorder sidecar too
            flags = _flags(c["args"])
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            tls_dir = str(Path(flags["--tls-cert"]).parent)
            secret = volumes[mounts[tls_dir]["name"]]["secret"]["secretName"]
            cert = by_secret[secret]  # the container's certificate, from cert-manager
            assert mounts[tls_dir].get("readOnly") is True
            assert {flags["--tls-cert"], flags["--tls-key"], flags["--tls-ca"]} == {
                f"{tls_dir}/tls.crt", f"{tls_dir}/tls.key", f"{tls_dir}/ca.crt"}  # mutual TLS: the CA is given
            assert {"server auth", "client auth"} <= set(cert["spec"]["usages"])
            assert c["args"][0] in cert["spec"]["dnsNames"]  # the service it runs: evaluator, evolver, discovery
            args = PARSERS[c["args"][0]]([a.replace("$(POD_NAMESPACE)", "ns") for a in c["args"][1:]])
            assert args.security.tls
            ports = {p["containerPort"] for p in c["ports"]}
            assert {c[probe]["grpc"]["port"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")} == \
                {args.health_port} <= ports  # kubelet probes reach the plaintext health port
            served.setdefault(c["args"][0], []).append(cert)
    workloads = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"] for d in docs
                 if d["kind"] in WORKLOADS}
    evolver, discovery = (_flags(workloads[name][0]["args"]) for name in ("evolver", "discovery"))
    # The names the callers check on every pod they call: the evolver on the evaluators and on
    # discovery, discovery on the evaluators and on its recorder sidecar (an evaluator at 127.0.0.1).
    for name, callee in ((evolver["--tls-server-name"], "evaluator"), (evolver["--discovery-server-name"], "discovery"),
                         (discovery["--tls-server-name"], "evaluator"),
                         (evolver["--peer-server-name"], "evolver")):  # its island peers are evolver pods
        assert all(name in cert["spec"]["dnsNames"] for cert in served[callee])
    assert _flags(workloads["discovery"][1]["args"])["--port"] == discovery["--recorder"].split(":")[1]
    for monitor in of_kind(docs, "ServiceMonitor"):
        for endpoint in monitor["spec"]["endpoints"]:  # discovery's: its own and its recorder's
            assert endpoint["scheme"] == "https"
            assert endpoint["tlsConfig"]["keySecret"]["name"] == "metrics-scraper-tls" in by_secret
            assert endpoint["tlsConfig"]["serverName"] in {n for certs in served.values() for cert in certs
                                                           for n in cert["spec"]["dnsNames"]}


def test_network_policies_let_only_the_evolver_reach_evaluators_and_monitoring_reach_metrics(rendered):
    target, docs, _ = rendered
    policies = {p["metadata"]["name"]: p for p in of_kind(docs, "NetworkPolicy")}
    if target.name != "prod":
        return
    assert {"evaluator", "evolver", "discovery"} <= set(policies)
    workloads = {d["metadata"]["name"]: d for d in docs if d["kind"] in WORKLOADS}
    for name in ("evaluator", "discovery"):
        policy = policies[name]["spec"]
        assert policy["policyTypes"] == ["Ingress"]
        by_port = {}
        for rule in policy["ingress"]:
            for port in rule["ports"]:
                by_port.setdefault(port["port"], []).extend(rule["from"])
        assert set(by_port) == {"grpc", "metrics"}
        assert by_port["grpc"] and all(set(peer) == {"podSelector"} and peer["podSelector"]["matchLabels"][
            "app.kubernetes.io/name"] in ("evolver", "discovery") and peer["podSelector"]["matchLabels"][
            "app.kubernetes.io/name"] != name for peer in by_port["grpc"])
        assert by_port["metrics"] == [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}]
    # The policies select the pods they are named for, and name ports those pods have.
    for name, policy in policies.items():
        if name not in workloads:
            continue
        template = workloads[name]["spec"]["template"]
        assert selects(policy["spec"]["podSelector"]["matchLabels"], template["metadata"]["labels"])
        names = {p["name"] for p in template["spec"]["containers"][0]["ports"]}
        assert {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]} <= names
