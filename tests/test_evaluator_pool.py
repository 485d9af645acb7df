"""The evolver's evaluator pool against real gRPC servers on loopback that stand in for evaluators:
batches spread over every endpoint, failed batches move elsewhere, an outage of every evaluator
is ridden out within the retry window (down endpoints probed, listeners told), lost datasets are
re-sent, rejected batches fail loudly."""
import socket
import threading
import time

import grpc
import pytest

from neatai.creature import Creature, Neuron
from neatai.datasets import DatasetStore, xor
from neatai.datasets_servicer import DatasetServicer
from neatai.evaluator_pool import (
    BatchRejected, EvaluatorPool, EvaluatorsUnavailable, parse_targets,
)
from neatai.server import ServerConfig, start_server
from neatai.v1 import dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc


class FakeEvaluator(evaluator_pb2_grpc.EvaluatorServiceServicer):
    """Scores a creature as error = output bias, score = -bias; knows only registered datasets."""

    def __init__(self, delay=0.0):
        self.store = DatasetStore()
        self.delay = delay
        self.calls = 0
        self.fail_with = None  # a status code every call answers
        self.lock = threading.Lock()

    def Evaluate(self, request, context):
        with self.lock:
            self.calls += 1
        if self.fail_with is not None:
            context.abort(self.fail_with, "told to fail")
        if request.dataset_id not in self.store:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown dataset {request.dataset_id}")
        time.sleep(self.delay)
        return evaluator_pb2.EvaluateResponse(results=[
            evaluator_pb2.CreatureResult(error=c.neurons[-1].bias, score=-c.neurons[-1].bias) for c in request.creatures])


def serve(fake, port=0):
    def add(server):
        evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(fake, server)
        dataset_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetServicer(fake.store), server)
        return ["neatai.v1.EvaluatorService", "neatai.v1.DatasetService"]
    return start_server("fake-evaluator", add, ServerConfig(host="127.0.0.1", port=port, grace_s=0))


def creatures(n):
    return [Creature(2, 1, [Neuron("output-0", "output", bias=float(k), squash="IDENTITY")], []) for k in range(n)]


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


@pytest.fixture
def evaluators():
    fakes = [FakeEvaluator(), FakeEvaluator()]
    servers = [serve(f) for f in fakes]
    yield fakes, servers
    for s in servers:
        s.stop(0)


def test_batches_are_spread_over_every_endpoint_and_results_keep_creature_order(evaluators):
    fakes, servers = evaluators
    pool = EvaluatorPool([s.address for s in servers], rpc_timeout=5)
    try:
        errors, scores = pool.evaluate(xor(), creatures(40), batch_size=4)
        assert errors == [float(k) for k in range(40)]
        assert scores == [-float(k) for k in range(40)]
        stats = {e.target: e for e in pool.endpoint_stats()}
        assert sum(e.creatures for e in stats.values()) == 40
        assert all(e.batches > 0 and e.dataset_uploads == 1 for e in stats.values())
        assert pool.stats().total_workers == 2
    finally:
        pool.close()


def test_a_dead_endpoint_loses_no_batch(evaluators):
    fakes, servers = evaluators
    dead = dead_port()
    pool = EvaluatorPool([dead, servers[0].address], rpc_timeout=5, backoff_s=0.01)
    try:
        for _ in range(3):
            errors, _ = pool.evaluate(xor(), creatures(30), batch_size=3)
            assert errors == [float(k) for k in range(30)]
        stats = {e.target: e for e in pool.endpoint_stats()}
        assert stats[dead].failures >= 1 and stats[dead].creatures == 0
        assert stats[servers[0].address].creatures == 90
    finally:
        pool.close()


def test_an_endpoint_that_stops_mid_run_hands_its_batches_to_the_others(evaluators):
    fakes, servers = evaluators
    pool = EvaluatorPool([s.address for s in servers], rpc_timeout=5, backoff_s=0.01)
    try:
        pool.evaluate(xor(), creatures(8), batch_size=2)
        servers[1].stop(0)
        errors, _ = pool.evaluate(xor(), creatures(20), batch_size=2)
        assert errors == [float(k) for k in range(20)]
    finally:
        pool.close()


def test_failing_status_moves_the_batch_elsewhere(evaluators):
    fakes, servers = evaluators
    fakes[1].fail_with = grpc.StatusCode.UNAVAILABLE
    pool = EvaluatorPool([s.address for s in servers], rpc_timeout=5, backoff_s=0.01)
    try:
        errors, _ = pool.evaluate(xor(), creatures(12), batch_size=2)
        assert errors == [float(k) for k in range(12)]
        assert fakes[1].calls >= 1
        assert {e.target: e.creatures for e in pool.endpoint_stats()}[servers[0].address] == 12
    finally:
        pool.close()


def test_an_evaluator_that_lost_the_dataset_gets_it_again(evaluators):
    fakes, servers = evaluators
    pool = EvaluatorPool([servers[0].address], rpc_timeout=5)
    try:
        pool.evaluate(xor(), creatures(3))
        fakes[0].store.cache.clear()  # e.g. the evaluator restarted
        errors, _ = pool.evaluate(xor(), creatures(3))
        assert errors == [0.0, 1.0, 2.0]
        assert pool.endpoint_stats()[0].dataset_uploads == 2
    finally:
        pool.close()


def test_invalid_argument_fails_with_the_evaluators_message(evaluators):
    fakes, servers = evaluators
    for f in fakes:
        f.fail_with = grpc.StatusCode.INVALID_ARGUMENT
    pool = EvaluatorPool([s.address for s in servers], rpc_timeout=5)
    try:
        with pytest.raises(BatchRejected, match="told to fail"):
            pool.evaluate(xor(), creatures(4))
    finally:
        pool.close()


def test_every_endpoint_down_is_reported_once_the_retry_window_is_spent():
    pool = EvaluatorPool([dead_port(), dead_port()], rpc_timeout=2, retry_window_s=1.0, backoff_s=0.05,
                         max_backoff_s=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(EvaluatorsUnavailable, match=r"no evaluator answered for 1s .*UNAVAILABLE"):
            pool.evaluate(xor(), creatures(2))
        assert 1.0 <= time.monotonic() - started < 5
        # Backed off, not hammered: a few attempts per endpoint in the second, not thousands.
        assert 2 <= sum(e.failures for e in pool.endpoint_stats()) < 60
    finally:
        pool.close()


def test_an_outage_of_every_evaluator_shorter_than_the_window_loses_nothing():
    fake = FakeEvaluator()
    server = serve(fake)
    port = server.port
    changes = []
    pool = EvaluatorPool([server.address], rpc_timeout=2, retry_window_s=30, probe_interval_s=0.1)
    pool.add_listener(lambda: changes.append(pool.reachable()))
    try:
        pool.evaluate(xor(), creatures(3))
        server.stop(0)
        result = {}
        worker = threading.Thread(target=lambda: result.update(errors=pool.evaluate(xor(), creatures(4))[0]))
        worker.start()
        deadline = time.monotonic() + 10
        while pool.reachable() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pool.reachable()
        [(target, why)] = pool.unreachable()
        assert target == server.address and why.startswith("UNAVAILABLE")
        time.sleep(1.5)  # longer than the old 4 attempts took to give up (0.7 s)
        assert worker.is_alive()
        server = serve(FakeEvaluator(), port)  # restarted: an empty dataset store, the same address
        worker.join(20)
        assert result["errors"] == [0.0, 1.0, 2.0, 3.0]
        assert changes[0] is False and changes[-1] is True
        assert pool.endpoint_stats()[0].dataset_uploads == 2 and pool.endpoint_stats()[0].healthy
    finally:
        pool.close()
        server.stop(0)


def test_a_down_endpoint_is_probed_back_without_waiting_for_a_batch(evaluators):
    fakes, servers = evaluators
    dead = dead_port()
    pool = EvaluatorPool([dead, servers[0].address], rpc_timeout=2, probe_interval_s=0.1)
    try:
        pool.evaluate(xor(), creatures(6), batch_size=1)
        assert [t for t, _ in pool.unreachable()] == [dead]
        revived = serve(FakeEvaluator(), int(dead.rsplit(":", 1)[1]))
        try:
            deadline = time.monotonic() + 10
            while pool.unreachable() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pool.unreachable() == []  # no batch was sent: the health probe found it SERVING
        finally:
            revived.stop(0)
    finally:
        pool.close()


def test_an_idle_endpoint_steals_from_a_slow_one():
    slow, fast = FakeEvaluator(delay=0.2), FakeEvaluator()
    servers = [serve(slow), serve(fast)]
    pool = EvaluatorPool([s.address for s in servers], rpc_timeout=5)
    try:
        errors, _ = pool.evaluate(xor(), creatures(40), batch_size=2)
        assert errors == [float(k) for k in range(40)]
        by_target = {e.target: e.creatures for e in pool.endpoint_stats()}
        assert by_target[servers[1].address] > by_target[servers[0].address]
        assert pool.stats().successful_steals > 0
    finally:
        pool.close()
        for s in servers:
            s.stop(0)


def test_round_robin_dns_target_uses_one_channel_and_several_workers(evaluators):
    fakes, servers = evaluators
    pool = EvaluatorPool(f"dns:///localhost:{servers[0].port}", rpc_timeout=5, dns_workers=3)
    try:
        assert len(pool.endpoints) == 1 and pool.stats().total_workers == 3
        errors, _ = pool.evaluate(xor(), creatures(9), batch_size=1)
        assert errors == [float(k) for k in range(9)]
    finally:
        pool.close()


def test_targets_are_parsed_and_checked():
    assert parse_targets("a:1, b:2") == ["a:1", "b:2"]
    assert parse_targets(["dns:///evaluator:50051"]) == ["dns:///evaluator:50051"]
    for bad in ("", "nohost", "dns:///x:1,a:2", "a:port"):
        with pytest.raises(ValueError):
            parse_targets(bad)
