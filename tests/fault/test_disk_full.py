"""A disk that fills up during a run: the evolver's state directory is a real 4 MiB tmpfs, filled
to the last byte while the run checkpoints every generation. The write that finds no space fails
the run with the reason (the server stays up), the last good checkpoint stays readable on the
full disk, and once space is freed a restarted evolver resumes it to the uninterrupted result."""
from __future__ import annotations

import errno
import subprocess

import pytest
from chaos import EvolverClient, outcome

from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.checkpoint import CheckpointStore
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import evolver_pb2

LOOPBACK = ServerConfig(host="127.0.0.1", port=0, grace_s=0)


@pytest.fixture
def small_disk(tmp_path):
    """A file system that really fills: tmpfs needs root (CAP_SYS_ADMIN); without it, skip and say why."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot mount a 4 MiB tmpfs (needs root): {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk) -> None:
    """Write until the file system refuses: ENOSPC, nothing left for the next checkpoint."""
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC


@pytest.fixture(scope="module")
def evaluator():
    running = start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60), LOOPBACK)
    yield running
    running.stop(0)


def served_run(evaluator, state, run_id: str, start: bool = True, meanwhile=lambda client: None) -> evolver_pb2.Run:
    """The run `run_id` to its end on an evolver over `state` (started, or resumed from the
    state), calling `meanwhile(client)` once it is going; the evolver is stopped before returning."""
    evolver = start_evolver([evaluator.address], state, LOOPBACK)
    client = EvolverClient(evolver.address)
    try:
        if start:
            client.start(run_id)
        meanwhile(client)
        return client.wait(run_id)
    finally:
        client.close()
        evolver.stop(0)


def test_a_disk_filling_mid_run_leaves_the_last_checkpoint_resumable(evaluator, small_disk, tmp_path):
    expected = outcome(served_run(evaluator, tmp_path / "reference", "full"))

    def fill_at_generation_5(client):
        client.wait("full", 5)
        fill(small_disk)

    failed = served_run(evaluator, small_disk / "state", "full", meanwhile=fill_at_generation_5)
    assert failed.state == evolver_pb2.RUN_STATE_FAILED
    assert "No space left on device" in failed.message

    store = CheckpointStore(small_disk / "state")  # still full: reading needs no space
    try:
        last_good = store.load("full")
    finally:
        store.close()
    assert last_good["state"] == "RUNNING" and 5 <= last_good["history_length"] < 120

    (small_disk / "filler").unlink()
    resumed = served_run(evaluator, small_disk / "state", "full", start=False)
    assert outcome(resumed) == expected
