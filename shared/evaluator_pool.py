"""The evolver's pool of evaluators: spreads a population over every evaluator endpoint.

One worker per endpoint (a `WorkStealingPool` context holding that endpoint's channel and
stubs), so each endpoint has its own queue and an idle endpoint steals batches from a busy one.
A single `dns:///name:port` target becomes one channel with client-side `round_robin` over the
resolved addresses and several logical workers sharing it.

Every call has a deadline. A batch whose endpoint fails with a transient status (UNAVAILABLE,
DEADLINE_EXCEEDED, …) is retried on the next healthy endpoint with exponential backoff, up to a
bounded number of attempts, so no batch is lost while any evaluator is up; the failing endpoint
cools down before it is tried again. NOT_FOUND means the evaluator lacks the dataset (restarted,
evicted): it is uploaded again and the batch retried. INVALID_ARGUMENT means the batch itself is
bad and fails the run with the evaluator's message.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import grpc
import numpy as np

from neatai.costs import DEFAULT_COST, cost_number
from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.datasets_servicer import upload_dataset
from neatai.grpc_metrics import instrumented_channel
from neatai.handlers import method_path
from neatai.pool import PoolStats, WorkStealingPool
from neatai.tracing import carry_context
from neatai.training_options import options_to_proto
from neatai.v1 import dataset_pb2, dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc
from neatai.wire import evaluate_request

log = logging.getLogger(__name__)
_EVALUATE = method_path(evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"], "Evaluate")

# Transient failures: the same batch may succeed on another endpoint.
RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
})


class EvaluatorError(RuntimeError):
    """A batch could not be evaluated; the run fails with this message."""


class BatchRejected(EvaluatorError):
    """An evaluator answered INVALID_ARGUMENT: retrying elsewhere cannot help."""


class EvaluatorsUnavailable(EvaluatorError):
    """Every attempt on every endpoint failed."""


@dataclass(frozen=True)
class EndpointStats:
    target: str
    batches: int  # batches this endpoint evaluated
    creatures: int  # creatures this endpoint evaluated
    failures: int  # calls that failed with a transient status
    dataset_uploads: int  # datasets (re-)registered on this endpoint
    healthy: bool  # not cooling down after a failure


@dataclass(frozen=True)
class Trained:
    """One creature's Train result."""
    creature: Creature  # the trained copy (the creature as given when nothing improved it)
    error_before: float
    error_after: float
    iterations: int


class _Endpoint:
    """One evaluator target: its channel, stubs, registered datasets and counters."""

    def __init__(self, target: str, options: list[tuple[str, object]]):
        self.target = target
        # Counted in grpc_client_* and traced (W3C traceparent) when tracing is on.
        self.channel = instrumented_channel(target, options)
        self.evaluator = evaluator_pb2_grpc.EvaluatorServiceStub(self.channel)
        # Evaluate with the request already serialized (neatai.wire.evaluate_request)
        self.evaluate = self.channel.unary_unary(_EVALUATE, request_serializer=None,
                                                 response_deserializer=evaluator_pb2.EvaluateResponse.FromString)
        self.datasets = dataset_pb2_grpc.DatasetServiceStub(self.channel)
        self.registered: set[str] = set()
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.consecutive_failures = 0
        self.batches = self.creatures = self.failures = self.dataset_uploads = 0

    def healthy(self, now: float) -> bool:
        return self.down_until <= now

    def failed(self, cooldown_s: float) -> None:
        with self.lock:
            self.failures += 1
            self.consecutive_failures += 1
            self.down_until = time.monotonic() + min(30.0, cooldown_s * 2 ** (self.consecutive_failures - 1))

    def succeeded(self, creatures: int) -> None:
        with self.lock:
            self.batches += 1
            self.creatures += creatures
            self.consecutive_failures = 0
            self.down_until = 0.0

    def stats(self) -> EndpointStats:
        with self.lock:
            return EndpointStats(self.target, self.batches, self.creatures, self.failures, self.dataset_uploads,
                                 self.healthy(time.monotonic()))


def parse_targets(spec: str | Sequence[str]) -> list[str]:
    """`a:1,b:2` or a list → targets; one `dns:///name:port` stays a single round-robin target."""
    items = [spec] if isinstance(spec, str) else list(spec)
    targets = [t.strip() for item in items for t in item.split(",") if t.strip()]
    if not targets:
        raise ValueError("no evaluator endpoints given")
    if any(t.startswith("dns:") for t in targets) and len(targets) > 1:
        raise ValueError("a dns:/// target must be the only evaluator target")
    for t in targets:
        if not t.startswith("dns:") and (":" not in t or not t.rsplit(":", 1)[1].isdigit()):
            raise ValueError(f"evaluator endpoint {t!r} is not host:port or dns:///name:port")
    return targets


class EvaluatorPool:
    """Evaluates populations on a set of evaluator endpoints."""

    def __init__(self, targets: str | Sequence[str], *, rpc_timeout: float = 30.0, upload_timeout: float = 120.0,
                 train_timeout: float = 600.0,
                 max_attempts: int | None = None, backoff_s: float = 0.05, cooldown_s: float = 0.5,
                 dns_workers: int = 4, max_message_bytes: int = 64 << 20, name: str = "evaluators"):
        self.targets = parse_targets(targets)
        self.rpc_timeout = rpc_timeout
        self.upload_timeout = upload_timeout
        self.train_timeout = train_timeout  # a Train batch runs passes of gradient descent: minutes, not seconds
        self.backoff_s = backoff_s
        self.cooldown_s = cooldown_s
        options: list[tuple[str, object]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if self.targets[0].startswith("dns:"):
            # One channel balancing over every resolved address; re-resolved when servers age connections out.
            options.append(("grpc.lb_policy_name", "round_robin"))
            self.endpoints = [_Endpoint(self.targets[0], options)]
            contexts = self.endpoints * max(1, dns_workers)
        else:
            self.endpoints = [_Endpoint(t, options) for t in self.targets]
            contexts = list(self.endpoints)
        # Enough attempts to visit every endpoint twice; a round-robin channel picks a backend per call.
        self.max_attempts = max_attempts or max(4, 2 * len(contexts))
        self.pool = WorkStealingPool(name, contexts)
        self.name = name

    # ---- evaluation --------------------------------------------------------------------------

    def evaluate(self, dataset: Dataset, creatures: Sequence[Creature], cost: str | int = DEFAULT_COST,
                 cost_of_growth: float | None = None, sample_rate: float | None = None,
                 feedback_loop: bool = False, batch_size: int = 64) -> tuple[list[float], list[float]]:
        """(errors, scores) in creature order. Raises EvaluatorError when a batch cannot be scored."""
        if not creatures:
            return [], []
        cost_pb = cost if isinstance(cost, int) else cost_number(cost)
        # Every field but the creatures, serialized once; each creature is encoded once and the
        # request written from those bytes (no message is built or parsed on this side).
        head = evaluator_pb2.EvaluateRequest(dataset_id=dataset.id, cost=cost_pb, feedback_loop=feedback_loop)
        if cost_of_growth is not None:
            head.cost_of_growth = cost_of_growth
        if sample_rate is not None:
            head.fitness_sample_rate = sample_rate
        head = head.SerializeToString()
        futures = self._submit_batches(creatures, batch_size, lambda batch: (
            self._run_batch, dataset, evaluate_request(head, [c.to_bytes() for c in batch]), len(batch)))
        errors: list[float] = []
        scores: list[float] = []
        for response in self._gather(futures):
            errors.extend(r.error for r in response.results)
            scores.extend(r.score for r in response.results)
        return errors, scores

    def train(self, dataset: Dataset, creatures: Sequence[Creature], cost: str | int = DEFAULT_COST,
              feedback_loop: bool = False, options: dict | None = None, batch_size: int = 64) -> list[Trained]:
        """Train every creature (EvaluatorService.Train with NEAT-AI's backpropagation `options`),
        spread and retried like `evaluate`; results in creature order. Raises EvaluatorError."""
        if not creatures:
            return []
        cost_pb = cost if isinstance(cost, int) else cost_number(cost)
        head = dict(dataset_id=dataset.id, cost=cost_pb, feedback_loop=feedback_loop,
                    options=options_to_proto(options or {}))
        futures = self._submit_batches(creatures, batch_size, lambda batch: (
            self._train_batch, dataset, evaluator_pb2.TrainRequest(**head, creatures=[c.to_proto() for c in batch])))
        return [Trained(Creature.from_proto(r.creature), r.error_before, r.error_after, r.iterations)
                for response in self._gather(futures) for r in response.results]

    def _submit_batches(self, creatures: Sequence[Creature], batch_size: int, task) -> list:
        """One pool task per batch, `task(batch)` giving (function, *arguments)."""
        # Small populations still use every worker: at most `batch_size`, at least one batch per worker.
        size = max(1, min(batch_size, math.ceil(len(creatures) / self.pool.size)))
        futures = []
        for k, start in enumerate(range(0, len(creatures), size)):
            fn, *args = task(creatures[start:start + size])
            # Worker threads do not inherit the caller's trace context: bind it to the batch.
            futures.append(self.pool.submit(carry_context(fn), *args, affinity=k))
        return futures

    @staticmethod
    def _gather(futures) -> list:
        """Every batch's response in order; waits for all, so no batch still runs when one failed."""
        responses, failure = [], None
        for f in futures:
            try:
                responses.append(f.result())
            except BaseException as e:  # noqa: BLE001 — reported below, first one wins
                failure = failure or e
        if failure is not None:
            raise failure
        return responses

    def _train_batch(self, endpoint: _Endpoint, dataset: Dataset,
                     request: evaluator_pb2.TrainRequest) -> evaluator_pb2.TrainResponse:
        n = len(request.creatures)

        def call(e: _Endpoint) -> evaluator_pb2.TrainResponse:
            self._ensure_dataset(e, dataset)
            response = e.evaluator.Train(request, timeout=self.train_timeout)
            if len(response.results) != n:
                raise EvaluatorError(f"evaluator {e.target} answered {len(response.results)} results for {n} creatures")
            return response

        return self._with_retries(endpoint, call, n, f"training batch of {n} creatures", dataset)

    def _run_batch(self, endpoint: _Endpoint, dataset: Dataset, request: bytes, n: int) -> evaluator_pb2.EvaluateResponse:
        def call(e: _Endpoint) -> evaluator_pb2.EvaluateResponse:
            self._ensure_dataset(e, dataset)
            response = e.evaluate(request, timeout=self.rpc_timeout)
            if len(response.results) != n:
                raise EvaluatorError(f"evaluator {e.target} answered {len(response.results)} results for {n} creatures")
            return response

        return self._with_retries(endpoint, call, n, f"batch of {n} creatures", dataset)

    def activate(self, creature: Creature, X: np.ndarray, feedback_loop: bool = False) -> np.ndarray:
        """Outputs float32[rows, outputs] of one creature on rows X (one Activate call, retried
        like a batch). Raises EvaluatorError."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        request = evaluator_pb2.ActivateRequest(creature=creature.to_proto(), feedback_loop=feedback_loop,
                                                inputs=dataset_pb2.Matrix(rows=X.shape[0], cols=X.shape[1]))
        request.inputs.values.extend(X.ravel())

        def call(e: _Endpoint) -> np.ndarray:
            m = e.evaluator.Activate(request, timeout=self.rpc_timeout).outputs
            return np.asarray(m.values, dtype=np.float32).reshape(m.rows, m.cols)

        return self._with_retries(self.endpoints[0], call, 1, "Activate")

    def record(self, dataset: Dataset, creature: Creature, sample_rate: float | None = None, seed: int | None = None,
               timeout_seconds: float | None = None) -> evaluator_pb2.RecordResponse:
        """Record `creature`'s activations on a sample of `dataset` (EvaluatorService.Record) on
        one evaluator, retried like a batch; the answer names the Parquet file on that
        evaluator's disk. Raises EvaluatorError."""
        request = evaluator_pb2.RecordRequest(dataset_id=dataset.id, creature=creature.to_proto())
        if sample_rate is not None:
            request.sample_rate = sample_rate
        if seed is not None:
            request.seed = seed
        if timeout_seconds is not None:
            request.timeout_seconds = timeout_seconds
        # The evaluator stops recording at its own timeout and answers what it has.
        deadline = (timeout_seconds or 300.0) + self.rpc_timeout

        def call(e: _Endpoint) -> evaluator_pb2.RecordResponse:
            self._ensure_dataset(e, dataset)
            return e.evaluator.Record(request, timeout=deadline)

        return self._with_retries(self.endpoints[0], call, 1, "Record", dataset)

    def delete_recording(self, directory: str) -> None:
        """Remove a recording folder (RecordResponse.directory) once analysed, from the first
        endpoint: a recorder is one evaluator. Raises EvaluatorError."""
        endpoint = self.endpoints[0]
        try:
            endpoint.evaluator.DeleteRecording(evaluator_pb2.DeleteRecordingRequest(directory=directory),
                                               timeout=self.rpc_timeout)
        except grpc.RpcError as e:
            raise EvaluatorError(f"evaluator {endpoint.target}: {e.code().name}: {e.details()}") from None

    def _with_retries(self, endpoint: _Endpoint, call, n: int, what: str, dataset: Dataset | None = None):
        """`call(endpoint)`, moved to the next healthy endpoint on transient failures and retried
        after re-uploading `dataset` on NOT_FOUND."""
        attempts = uploads = 0
        if not endpoint.healthy(time.monotonic()):
            endpoint = self._next_endpoint(endpoint)
        while True:
            try:
                result = call(endpoint)
                endpoint.succeeded(n)
                return result
            except grpc.RpcError as e:
                code, details = e.code(), e.details()
                if code == grpc.StatusCode.NOT_FOUND and dataset is not None and uploads < self.max_attempts:
                    # The evaluator lost the dataset (restart, eviction, another round-robin backend).
                    uploads += 1
                    with endpoint.lock:
                        endpoint.registered.discard(dataset.id)
                    continue
                if code == grpc.StatusCode.INVALID_ARGUMENT:
                    raise BatchRejected(f"evaluator {endpoint.target} rejected the {what}: {details}") from None
                if code not in RETRYABLE:
                    raise EvaluatorError(f"evaluator {endpoint.target}: {code.name}: {details}") from None
                attempts += 1
                endpoint.failed(self.cooldown_s)
                log.warning("evaluator %s failed (%s: %s); attempt %d/%d", endpoint.target, code.name, details,
                            attempts, self.max_attempts)
                if attempts >= self.max_attempts:
                    raise EvaluatorsUnavailable(
                        f"{what} failed on every evaluator after {attempts} attempts; "
                        f"last: {endpoint.target}: {code.name}: {details}") from None
                time.sleep(min(2.0, self.backoff_s * 2 ** (attempts - 1)))
                endpoint = self._next_endpoint(endpoint)

    def _ensure_dataset(self, endpoint: _Endpoint, dataset: Dataset) -> None:
        with endpoint.lock:
            if dataset.id in endpoint.registered:
                return
        response = upload_dataset(endpoint.datasets, dataset, timeout=self.upload_timeout)
        if response.dataset_id != dataset.id:
            raise EvaluatorError(f"evaluator {endpoint.target} stored the dataset as {response.dataset_id}, "
                                 f"expected {dataset.id}")
        with endpoint.lock:
            endpoint.registered.add(dataset.id)
            endpoint.dataset_uploads += 1

    def _next_endpoint(self, current: _Endpoint) -> _Endpoint:
        """The next healthy endpoint after `current`, else the one that recovers first."""
        now = time.monotonic()
        i = self.endpoints.index(current)
        ring = self.endpoints[i + 1:] + self.endpoints[:i + 1]
        healthy = [e for e in ring if e.healthy(now)]
        return healthy[0] if healthy else min(ring, key=lambda e: e.down_until)

    # ---- observability -------------------------------------------------------------------------

    def stats(self) -> PoolStats:
        return self.pool.stats()

    def endpoint_stats(self) -> list[EndpointStats]:
        return [e.stats() for e in self.endpoints]

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_pending=True)
        for e in self.endpoints:
            e.channel.close()
