"""A real `neatai serve evaluator` process on SIGTERM: reports NOT_SERVING to health watchers,
refuses new calls, lets the call in flight finish, and exits 0 within the grace period. Its
/metrics endpoint passes `promtool check metrics`. A real evolver stopped the same way mid-run
resumes the run when restarted on the same state directory."""
from __future__ import annotations

import queue
import subprocess
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ops_procs import Service
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2, dataset_pb2_grpc

GRACE_S = 10


@pytest.fixture
def evaluator():
    service = Service("evaluator", "--grace", str(GRACE_S), "--threads", "1")
    yield service
    service.kill()


def test_connections_are_aged_so_clients_re_resolve():
    config = ServerConfig()
    assert 0 < config.max_connection_age_s <= 300 and config.max_connection_age_grace_s > 0


def test_metrics_endpoint_passes_promtool(evaluator):
    text = urllib.request.urlopen(f"http://127.0.0.1:{evaluator.metrics_port}/metrics", timeout=10).read()
    assert b"neatai_cache_capacity" in text and b"grpc_server" in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_sigterm_drains_in_flight_call_and_exits_0(evaluator):
    channel = grpc.insecure_channel(evaluator.address)
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING

    statuses: list[int] = []
    watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=30)

    def watch_health():
        try:
            for response in watch:
                statuses.append(response.status)
        except grpc.RpcError:
            pass  # the server closes the stream when it stops

    watcher = threading.Thread(target=watch_health)
    watcher.start()

    # A client-stream upload that stays open across the SIGTERM: in flight when the drain starts.
    parts: queue.Queue = queue.Queue()
    parts.put(dataset_pb2.RegisterDatasetRequest(header=dataset_pb2.DatasetHeader(
        format=dataset_pb2.DATASET_FORMAT_FLOAT32_RECORDS, inputs=2, outputs=1, name="xor")))
    upload = dataset_pb2_grpc.DatasetServiceStub(channel).RegisterDataset.future(iter(parts.get, None), timeout=30)
    deadline = time.monotonic() + 10
    while statuses[-1:] != [health_pb2.HealthCheckResponse.SERVING]:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    started = time.monotonic()
    evaluator.terminate()
    while health_pb2.HealthCheckResponse.NOT_SERVING not in statuses:
        assert time.monotonic() - started < 5, f"no NOT_SERVING after SIGTERM: {statuses}"
        time.sleep(0.01)

    # A health Watch is a call in flight that never ends by itself: the server ends it after
    # NOT_SERVING, else it would hold the drain for the whole grace.
    watcher.join(5)
    assert not watcher.is_alive(), "the health Watch stream is still open"
    assert watch.code() == grpc.StatusCode.OK

    # New calls are refused while the old one is still allowed to finish.
    fresh = grpc.insecure_channel(evaluator.address)
    with pytest.raises(grpc.RpcError) as refused:
        health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    fresh.close()
    assert evaluator.proc.poll() is None, "the server must wait for the call in flight"

    xor = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype="<f4").tobytes()
    parts.put(dataset_pb2.RegisterDatasetRequest(chunk=xor))
    parts.put(None)
    response = upload.result(timeout=GRACE_S)
    assert response.shape.records == 4 and response.dataset_id.startswith("sha256:")

    finished = time.monotonic()
    assert evaluator.wait(timeout=GRACE_S + 5) == 0, evaluator.log()
    # Once nothing is in flight the server exits at once, without waiting out the grace.
    assert time.monotonic() - finished < GRACE_S / 2
    watcher.join(5)
    channel.close()


def test_evolver_sigterm_checkpoints_and_a_restart_resumes(tmp_path):
    """What a StatefulSet rollout does: SIGTERM mid-run, exit 0, a new pod on the same volume
    carries the run on from its checkpoint."""
    from neatai.datasets import xor
    from neatai.datasets_servicer import upload_dataset
    from neatai.v1 import evolver_pb2, evolver_pb2_grpc

    evaluator = Service("evaluator", "--threads", "1", "--metrics-port", "none")
    args = ("--evaluators", evaluator.address, "--state-dir", str(tmp_path / "state"), "--metrics-port", "none",
            "--grace", str(GRACE_S))
    evolver = Service("evolver", *args)
    try:
        channel = grpc.insecure_channel(evolver.address)
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=30).dataset_id
        stub = evolver_pb2_grpc.EvolverServiceStub(channel)
        run_id = stub.StartRun(evolver_pb2.StartRunRequest(
            config=evolver_pb2.RunConfig(population_size=30, seed=3, target_error=0.0, iterations=100_000),
            dataset_id=dataset_id), timeout=30).run_id
        deadline = time.monotonic() + 30
        while stub.GetRun(evolver_pb2.GetRunRequest(run_id=run_id), timeout=10).run.latest.generation < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        channel.close()

        evolver.terminate()
        assert evolver.wait(timeout=GRACE_S + 5) == 0, evolver.log()

        restarted = Service("evolver", *args)
        try:
            channel = grpc.insecure_channel(restarted.address)
            stub = evolver_pb2_grpc.EvolverServiceStub(channel)
            run = stub.GetRun(evolver_pb2.GetRunRequest(run_id=run_id), timeout=10).run
            stopped_at = run.latest.generation
            assert run.state == evolver_pb2.RUN_STATE_RUNNING and stopped_at >= 3
            deadline = time.monotonic() + 30
            while stub.GetRun(evolver_pb2.GetRunRequest(run_id=run_id), timeout=10).run.latest.generation <= stopped_at:
                assert time.monotonic() < deadline, "the resumed run does not advance"
                time.sleep(0.05)
            stub.StopRun(evolver_pb2.StopRunRequest(run_id=run_id), timeout=30)
            channel.close()
        finally:
            restarted.terminate()
            assert restarted.wait(timeout=GRACE_S + 5) == 0, restarted.log()
    finally:
        evolver.kill()
        evaluator.kill()
