"""The evolver's DiscoveryClient against a real discovery server: it registers the dataset when
the server lacks it, answers the improved creature, and close() cancels a discovery in flight
(the server stops it at its next stage) before it closes the channel."""
from __future__ import annotations

import threading
import time

import pytest
from planted_discovery import planted_creature, planted_dataset, planted_result

from neatai.discovery.pipeline import Cancelled
from neatai.discovery.server import start as start_discovery
from neatai.discovery_client import DiscoveryClient, DiscoveryError
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.server import ServerConfig

DATA = planted_dataset()
SLOW = threading.Event()


def analyse(path, creature, options, cancelled):
    """The planted result, or, while SLOW is set, a long analysis that notices cancellation."""
    end = time.monotonic() + 30
    while SLOW.is_set() and time.monotonic() < end:
        if cancelled():
            raise Cancelled("analysis cancelled")
        time.sleep(0.02)
    return planted_result()


@pytest.fixture(scope="module")
def discovery(tmp_path_factory):
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
    evaluator = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60,
                                                recording_dir=str(tmp_path_factory.mktemp("rec"))), loopback)
    running = start_discovery([evaluator.address], tmp_path_factory.mktemp("cache"), loopback, analyse=analyse)
    yield running
    running.stop(0)
    evaluator.stop(0)


def test_the_client_uploads_the_dataset_and_gets_the_improvement(discovery):
    client = DiscoveryClient(discovery.address, timeout=30)
    try:
        found = client.discover(DATA, planted_creature(), sample_rate=0.5, cost="MSE", cost_of_growth=1e-7)
    finally:
        client.close()
    assert found.creature is not None and found.score_delta > 0 and found.seconds > 0
    assert DATA.id in discovery.service.datasets


def test_close_cancels_a_discovery_in_flight(discovery):
    client = DiscoveryClient(discovery.address, timeout=30)
    outcome = []

    def run():
        try:
            client.discover(DATA, planted_creature(), sample_rate=0.5, cost="MSE", cost_of_growth=1e-7)
        except DiscoveryError as e:
            outcome.append(str(e))

    SLOW.set()
    try:
        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 10
        while not discovery.service.snapshot().in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        t0 = time.monotonic()
        client.close()
        worker.join(10)
        assert time.monotonic() - t0 < 5 and not worker.is_alive()
        assert outcome and "CANCELLED" in outcome[0]
        deadline = time.monotonic() + 10
        while discovery.service.snapshot().in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        assert discovery.service.snapshot().runs["cancelled"] >= 1  # the server stopped it too
    finally:
        SLOW.clear()
