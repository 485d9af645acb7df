"""The client side of DiscoveryService, for the evolver: send a creature and a dataset, get the
improved creature back (or None). A discovery service that lacks the dataset answers NOT_FOUND;
the dataset is uploaded and the call made once more. Every failure is a `DiscoveryError` with
the status behind it, so the caller can carry on without discovery."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc

from .costs import cost_number
from .creature import Creature
from .datasets import Dataset
from .datasets_servicer import upload_dataset
from .grpc_metrics import instrumented_channel
from .security import INSECURE, ClientSecurity
from .v1 import dataset_pb2_grpc, discovery_pb2, discovery_pb2_grpc


class DiscoveryError(RuntimeError):
    """A discovery could not run; the message names the status and the server's reason."""


@dataclass(frozen=True)
class Discovered:
    creature: Creature | None  # the best improvement; None when nothing beat the original
    score_delta: float  # its score minus the original's (0 when nothing improved)
    seconds: float  # the whole run, on the discovery service
    change_type: str = ""


class DiscoveryClient:
    def __init__(self, target: str, timeout: float = 900.0, upload_timeout: float = 120.0,
                 max_message_bytes: int = 64 << 20, security: ClientSecurity = INSECURE):
        self.target = target
        self.timeout = timeout
        self.upload_timeout = upload_timeout
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        self.channel = instrumented_channel(target, options + security.options(), security.credentials())
        self.stub = discovery_pb2_grpc.DiscoveryServiceStub(self.channel)
        self.datasets = dataset_pb2_grpc.DatasetServiceStub(self.channel)
        # Calls in flight: close() cancels them and waits before closing the channel (a channel
        # closed under a call still using it can crash the process).
        self._calls: set = set()
        self._busy = threading.Condition()
        self._in_flight = 0

    def discover(self, dataset: Dataset, creature: Creature, *, sample_rate: float, cost: str,
                 cost_of_growth: float, feedback_loop: bool = False, seed: int = 0) -> Discovered:
        with self._busy:
            self._in_flight += 1
        try:
            return self._discover(dataset, creature, sample_rate, cost, cost_of_growth, feedback_loop, seed)
        finally:
            with self._busy:
                self._in_flight -= 1
                self._busy.notify_all()

    def _discover(self, dataset: Dataset, creature: Creature, sample_rate: float, cost: str, cost_of_growth: float,
                  feedback_loop: bool, seed: int) -> Discovered:
        request = discovery_pb2.DiscoverRequest(
            dataset_id=dataset.id, creature=creature.to_proto(),
            options=discovery_pb2.DiscoverOptions(sample_rate=sample_rate, cost=cost_number(cost),
                                                  cost_of_growth=cost_of_growth, feedback_loop=feedback_loop,
                                                  seed=seed % 2 ** 64))
        for attempt in range(2):
            try:
                result = None
                call = self.stub.Discover(request, timeout=self.timeout)
                with self._busy:
                    self._calls.add(call)
                try:
                    for response in call:
                        if response.WhichOneof("event") == "result":
                            result = response.result
                finally:
                    with self._busy:
                        self._calls.discard(call)
                if result is None:
                    raise DiscoveryError(f"discovery {self.target} ended without a result")
                break
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.NOT_FOUND and attempt == 0:
                    self._upload(dataset)
                    continue
                raise DiscoveryError(f"discovery {self.target}: {e.code().name}: {e.details()}") from None
        seconds = result.stage_seconds.get("total", 0.0)
        if not result.improved:
            return Discovered(None, 0.0, seconds)
        return Discovered(Creature.from_proto(result.best.creature), result.best.score_delta, seconds,
                          result.best.change_type)

    def _upload(self, dataset: Dataset) -> None:
        try:
            upload_dataset(self.datasets, dataset, timeout=self.upload_timeout)
        except grpc.RpcError as e:
            raise DiscoveryError(f"discovery {self.target}: cannot register the dataset: "
                                 f"{e.code().name}: {e.details()}") from None

    def close(self, wait_s: float = 10.0) -> None:
        """Cancel the discoveries in flight, let their threads leave the channel, close it."""
        with self._busy:
            for call in list(self._calls):
                call.cancel()
            idle = self._busy.wait_for(lambda: self._in_flight == 0, timeout=wait_s)
        if idle:
            self.channel.close()
