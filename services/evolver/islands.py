"""Island model: a run sends its best creatures to peer evolvers every few generations.

Seed 000's recommendation: exchange the top 5-10 % every 10-20 generations (`Evolution.emigrants`
picks them by the run's migrationFraction). The receiving
evolver grafts them into the named run with `ImportCreatures`. Sending happens on a background
thread with a deadline per call; a peer that is down or refuses is logged and skipped, never
fatal to the run.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import grpc

from neatai.creature import Creature
from neatai.grpc_metrics import instrumented_channel
from neatai.security import INSECURE, ClientSecurity
from neatai.v1 import evolver_pb2, evolver_pb2_grpc

log = logging.getLogger(__name__)


class Migrator:
    """Sends one run's migrants to its peers every `interval` generations."""

    def __init__(self, peers: Sequence[str], peer_run_id: str, interval: int, timeout: float = 10.0,
                 security: ClientSecurity = INSECURE):
        self.peers = list(peers)
        self.peer_run_id = peer_run_id
        self.interval = max(1, interval)
        self.timeout = timeout
        self._channels = {p: instrumented_channel(p, security.options(), security.credentials()) for p in self.peers}
        self._stubs = {p: evolver_pb2_grpc.EvolverServiceStub(c) for p, c in self._channels.items()}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="islands")
        self._lock = threading.Lock()
        self.sent = 0  # creatures accepted by peers
        self.failures = 0  # calls that failed

    def maybe_send(self, generation: int, emigrants: Callable[[], Sequence[Creature]]) -> bool:
        """Queue a migration when `generation` is due; returns whether one was queued."""
        if generation <= 0 or generation % self.interval:
            return False
        chosen = emigrants()
        if not chosen:
            return False
        request = evolver_pb2.ImportCreaturesRequest(run_id=self.peer_run_id, creatures=[c.to_proto() for c in chosen])
        self._executor.submit(self._send, generation, request)
        return True

    def _send(self, generation: int, request) -> None:
        for peer, stub in self._stubs.items():
            try:
                response = stub.ImportCreatures(request, timeout=self.timeout)
            except grpc.RpcError as e:
                with self._lock:
                    self.failures += 1
                log.warning("island migration to %s (run %s, generation %d) failed: %s: %s", peer, self.peer_run_id,
                            generation, e.code().name, e.details())
                continue
            except ValueError:  # channel closed: the run ended while this migration was queued
                return
            with self._lock:
                self.sent += response.accepted
            log.info("sent %d creatures to %s (run %s, generation %d)", response.accepted, peer, self.peer_run_id,
                     generation)

    def close(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
        for channel in self._channels.values():
            channel.close()
