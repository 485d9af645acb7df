"""Outages of every evaluator, ridden out: real evaluator and evolver servers on loopback, the
evaluator stopped mid-run and started again on the same port. A run pauses while no evaluator
answers (state and reason in GetRun, WatchRun and the metrics) and ends as an uninterrupted run
would; one that outlasts the retry window fails with a clear message and ResumeRun continues it
to that same result."""
from __future__ import annotations

import socket
import time

import grpc
import pytest

from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.metrics import exposition
from neatai.server import ServerConfig
from neatai.v1 import evolver_pb2 as S

from test_evolver_server import LONG, T, Client

PAUSED_OR_RUNNING = (S.RUN_STATE_RUNNING, S.RUN_STATE_PAUSED)
# Long enough that a loaded machine cannot finish it before the outage starts.
RUN = {**LONG, "iterations": 60}


def loopback(port: int = 0) -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=port, grace_s=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def evaluator_on(port: int):
    return start_evaluator(EvaluatorConfig(threads=2, memory_check_interval_s=60), loopback(port))


def wait_for(client: Client, run_id: str, done, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(run_id)
        if done(run):
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never got there; last {S.RunState.Name(run.state)} {run.message!r}")


@pytest.fixture(scope="module")
def uninterrupted():
    """The result the interrupted runs must reach: RUN on an evaluator that never goes away."""
    evaluator = evaluator_on(0)
    evolver = start_evolver([evaluator.address], None, loopback())
    client = Client(evolver.address)
    try:
        run = wait_for(client, client.start(**RUN), lambda r: r.state not in PAUSED_OR_RUNNING)
        return run.latest
    finally:
        client.close()
        evolver.stop(0)
        evaluator.stop(0)


def test_a_run_pauses_while_no_evaluator_answers_and_ends_as_if_nothing_happened(tmp_path, uninterrupted):
    port = free_port()
    evaluator = evaluator_on(port)
    evolver = start_evolver([evaluator.address], tmp_path / "state", loopback(), rpc_timeout=2,
                            probe_interval_s=0.1)
    client = Client(evolver.address)
    try:
        run_id = client.start(**RUN)
        wait_for(client, run_id, lambda r: r.latest.generation >= 3)
        evaluator.stop(0)
        paused = wait_for(client, run_id, lambda r: r.state == S.RUN_STATE_PAUSED)
        assert "no evaluator reachable" in paused.message and f"127.0.0.1:{port}" in paused.message
        assert 'neatai_evolution_runs{state="paused"} 1.0' in exposition()
        # A watcher is told at once, by a report that repeats the last generation's figures.
        watch = client.stub.WatchRun(S.WatchRunRequest(run_id=run_id, from_generation=paused.latest.generation + 1),
                                     timeout=T)
        report = next(iter(watch)).report
        watch.cancel()
        assert report.state == S.RUN_STATE_PAUSED and report.generation == paused.latest.generation
        assert "no evaluator reachable" in report.pause_reason
        # UNAVAILABLE, or CANCELLED when a batch was in flight as the evaluator stopped.
        assert any(u.startswith(f"127.0.0.1:{port}: ") for u in report.unreachable_evaluators)
        time.sleep(1.0)  # the old pool gave up after 0.7 s and failed the run for good
        assert client.get(run_id).state == S.RUN_STATE_PAUSED
        evaluator = evaluator_on(port)  # back, empty: the dataset is sent again
        run = wait_for(client, run_id, lambda r: r.state not in PAUSED_OR_RUNNING)
        assert run.state == S.RUN_STATE_EXHAUSTED and run.message == ""
        assert (run.latest.generation, run.latest.evaluations, run.latest.best_error) == \
            (uninterrupted.generation, uninterrupted.evaluations, uninterrupted.best_error)
    finally:
        client.close()
        evolver.stop(0)
        evaluator.stop(0)


def test_a_run_that_outlasts_the_retry_window_fails_and_resumes_to_the_same_result(tmp_path, uninterrupted):
    port = free_port()
    evaluator = evaluator_on(port)
    evolver = start_evolver([evaluator.address], tmp_path / "state", loopback(), rpc_timeout=2,
                            retry_window_s=0.5, probe_interval_s=0.1)
    client = Client(evolver.address)
    try:
        run_id = client.start(**RUN)
        with pytest.raises(grpc.RpcError) as running:
            client.stub.ResumeRun(S.ResumeRunRequest(run_id=run_id), timeout=T)
        assert running.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "only a failed run can be resumed" in running.value.details()
        wait_for(client, run_id, lambda r: r.latest.generation >= 3)
        evaluator.stop(0)
        failed = wait_for(client, run_id, lambda r: r.state not in PAUSED_OR_RUNNING)
        assert failed.state == S.RUN_STATE_FAILED
        assert "no evaluator answered for 0.5s" in failed.message and "ResumeRun" in failed.message
        evaluator = evaluator_on(port)
        deadline = time.monotonic() + 30
        while not evolver.pool.reachable() and time.monotonic() < deadline:  # its probe finds it back
            time.sleep(0.05)
        assert client.stub.ResumeRun(S.ResumeRunRequest(run_id=run_id), timeout=T).state == S.RUN_STATE_RUNNING
        run = wait_for(client, run_id, lambda r: r.state not in PAUSED_OR_RUNNING)
        assert run.state == S.RUN_STATE_EXHAUSTED
        assert (run.latest.generation, run.latest.evaluations, run.latest.best_error) == \
            (uninterrupted.generation, uninterrupted.evaluations, uninterrupted.best_error)
        assert [r.generation for r in client.watch(run_id)] == list(range(1, RUN["iterations"] + 1))
    finally:
        client.close()
        evolver.stop(0)
        evaluator.stop(0)


def test_resume_of_an_unknown_run_is_not_found(tmp_path):
    evaluator = evaluator_on(0)
    evolver = start_evolver([evaluator.address], None, loopback())
    client = Client(evolver.address)
    try:
        with pytest.raises(grpc.RpcError) as e:
            client.stub.ResumeRun(S.ResumeRunRequest(run_id="nope"), timeout=T)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        client.close()
        evolver.stop(0)
        evaluator.stop(0)
