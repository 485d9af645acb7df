"""The evolver's pool of evaluators: spreads a population over every evaluator endpoint.

One worker per endpoint (a `WorkStealingPool` context holding that endpoint's channel and
stubs), so each endpoint has its own queue and an idle endpoint steals batches from a busy one.
A single `dns:///name:port` target becomes one channel with client-side `round_robin` over the
resolved addresses and several logical workers sharing it.

Every call has a deadline. A batch whose endpoint fails with a transient status (UNAVAILABLE,
DEADLINE_EXCEEDED, …) goes at once to another endpoint that is up; the failing endpoint is
marked down and a prober thread asks its health service every `probe_interval_s` until it
answers SERVING. With every endpoint down the batch waits with exponential backoff and jitter
(woken early when a probe finds one back) for up to `retry_window_s` — minutes by default, so
an evaluator restart or a network blip costs time, not the run. Listeners hear every change of
an endpoint's state (the evolver pauses its runs while none is up and tells their watchers
which died). NOT_FOUND means the evaluator lacks the dataset (restarted, evicted): it is
uploaded again and the batch retried. INVALID_ARGUMENT means the batch itself is bad and fails
the run with the evaluator's message.
"""
from __future__ import annotations

import logging
import math
import random
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
from neatai.security import INSECURE, ClientSecurity
from neatai.tracing import carry_context
from neatai.training_options import options_to_proto
from grpc_health.v1 import health_pb2, health_pb2_grpc

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
    """No endpoint answered within the retry window."""


@dataclass(frozen=True)
class EndpointStats:
    target: str
    batches: int  # batches this endpoint evaluated
    creatures: int  # creatures this endpoint evaluated
    failures: int  # calls that failed with a transient status
    dataset_uploads: int  # datasets (re-)registered on this endpoint
    healthy: bool  # up: not failed since its last success or SERVING probe


@dataclass(frozen=True)
class Trained:
    """One creature's Train result."""
    creature: Creature  # the trained copy (the creature as given when nothing improved it)
    error_before: float
    error_after: float
    iterations: int


class _Endpoint:
    """One evaluator target: its channel, stubs, registered datasets and counters."""

    def __init__(self, target: str, options: list[tuple[str, object]], security: ClientSecurity):
        self.target = target
        # Counted in grpc_client_* and traced (W3C traceparent) when tracing is on.
        self.channel = instrumented_channel(target, options + security.options(), security.credentials())
        self.evaluator = evaluator_pb2_grpc.EvaluatorServiceStub(self.channel)
        # Evaluate with the request already serialized (neatai.wire.evaluate_request)
        self.evaluate = self.channel.unary_unary(_EVALUATE, request_serializer=None,
                                                 response_deserializer=evaluator_pb2.EvaluateResponse.FromString)
        self.datasets = dataset_pb2_grpc.DatasetServiceStub(self.channel)
        self.registered: set[str] = set()
        self.lock = threading.Lock()
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.up = True  # optimistic until a call fails
        self.reason = ""  # why it is down: the failed call's status
        self.batches = self.creatures = self.failures = self.dataset_uploads = 0

    def stats(self) -> EndpointStats:
        with self.lock:
            return EndpointStats(self.target, self.batches, self.creatures, self.failures, self.dataset_uploads,
                                 self.up)


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
                 train_timeout: float = 600.0, retry_window_s: float = 300.0, backoff_s: float = 0.05,
                 max_backoff_s: float = 5.0, probe_interval_s: float = 1.0,
                 dns_workers: int = 4, max_message_bytes: int = 64 << 20, name: str = "evaluators",
                 security: ClientSecurity = INSECURE):
        self.targets = parse_targets(targets)
        self.rpc_timeout = rpc_timeout
        self.upload_timeout = upload_timeout
        self.train_timeout = train_timeout  # a Train batch runs passes of gradient descent: minutes, not seconds
        self.retry_window_s = retry_window_s  # how long a batch may wait for some evaluator to answer
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.probe_interval_s = probe_interval_s
        self._jitter = random.Random()  # spreads the retries of many waiting batches apart
        self._health = threading.Condition()  # notified when an endpoint comes back, or on close
        self._listeners: list = []
        self._prober: threading.Thread | None = None
        self._closed = False
        options: list[tuple[str, object]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # gRPC's own reconnect backoff grows to 120 s: a restarted evaluator would sit unused
            # (calls failing fast with the old error) that long. Capped, the probes find it in seconds.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        if self.targets[0].startswith("dns:"):
            # One channel balancing over every resolved address; re-resolved when servers age connections out.
            options.append(("grpc.lb_policy_name", "round_robin"))
            self.endpoints = [_Endpoint(self.targets[0], options, security)]
            contexts = self.endpoints * max(1, dns_workers)
        else:
            self.endpoints = [_Endpoint(t, options, security) for t in self.targets]
            contexts = list(self.endpoints)
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
        """`call(endpoint)`, moved to another endpoint that is up on transient failures, waiting
        with backoff while none is, for up to the retry window; retried after re-uploading
        `dataset` on NOT_FOUND."""
        failures = uploads = 0
        first_failure = None
        if not endpoint.up:
            endpoint = self._next_endpoint(endpoint)
        while True:
            try:
                result = call(endpoint)
            except grpc.RpcError as e:
                code, details = e.code(), e.details()
                if code == grpc.StatusCode.NOT_FOUND and dataset is not None and uploads < 4:
                    # The evaluator lost the dataset (restart, eviction, another round-robin backend).
                    uploads += 1
                    with endpoint.lock:
                        endpoint.registered.discard(dataset.id)
                    continue
                if code == grpc.StatusCode.INVALID_ARGUMENT:
                    raise BatchRejected(f"evaluator {endpoint.target} rejected the {what}: {details}") from None
                if code not in RETRYABLE:
                    raise EvaluatorError(f"evaluator {endpoint.target}: {code.name}: {details}") from None
                now = time.monotonic()
                first_failure = now if first_failure is None else first_failure
                failures += 1
                self._mark_down(endpoint, f"{code.name}: {details}")
                if now - first_failure >= self.retry_window_s:
                    raise EvaluatorsUnavailable(
                        f"{what}: no evaluator answered for {self.retry_window_s:g}s ({failures} attempts); "
                        f"last: {endpoint.target}: {code.name}: {details}") from None
                following = self._next_endpoint(endpoint)
                if following is not endpoint and following.up:
                    endpoint = following  # another evaluator is up: no reason to wait
                    continue
                # None is up: back off (equal jitter), woken early when a probe finds one back.
                delay = self._jitter.uniform(0.5, 1.0) * min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1))
                self._wait_for_recovery(min(delay, first_failure + self.retry_window_s - now))
                endpoint = self._next_endpoint(endpoint)
            else:
                with endpoint.lock:
                    endpoint.batches += 1
                    endpoint.creatures += n
                self._mark_up(endpoint)
                return result

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
        """The next endpoint after `current` that is up, else the next one (all are down)."""
        i = self.endpoints.index(current)
        ring = self.endpoints[i + 1:] + self.endpoints[:i + 1]
        return next((e for e in ring if e.up), ring[0])

    # ---- endpoint health ---------------------------------------------------------------------

    def add_listener(self, listener) -> None:
        """`listener()` is called (on a pool thread) whenever an endpoint goes down or comes back."""
        self._listeners.append(listener)

    def reachable(self) -> bool:
        """Some endpoint is up."""
        return any(e.up for e in self.endpoints)

    def unreachable(self) -> list[tuple[str, str]]:
        """(target, why) of every endpoint that is down."""
        out = []
        for e in self.endpoints:
            with e.lock:
                if not e.up:
                    out.append((e.target, e.reason))
        return out

    def _mark_down(self, endpoint: _Endpoint, reason: str) -> None:
        with endpoint.lock:
            endpoint.failures += 1
            changed, endpoint.up, endpoint.reason = endpoint.up, False, reason
        if changed:
            others = "its batches go to the others" if self.reachable() else "no evaluator is reachable"
            log.warning("evaluator %s is unreachable (%s); %s", endpoint.target, reason, others)
            self._start_prober()
            self._notify()

    def _mark_up(self, endpoint: _Endpoint) -> None:
        with endpoint.lock:
            changed, endpoint.up, endpoint.reason = not endpoint.up, True, ""
        if changed:
            log.warning("evaluator %s is back", endpoint.target)
            with self._health:
                self._health.notify_all()
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 — a listener must not break evaluation
                log.exception("evaluator pool listener failed")

    def _wait_for_recovery(self, timeout: float) -> None:
        with self._health:
            self._health.wait_for(lambda: self._closed or self.reachable(), max(0.0, timeout))

    def _start_prober(self) -> None:
        with self._health:
            if self._prober is None and not self._closed:
                self._prober = threading.Thread(target=self._probe, name=f"{self.name}-prober", daemon=True)
                self._prober.start()

    def _probe(self) -> None:
        """Ask every down endpoint's health service until all are up again (or the pool closes)."""
        while True:
            with self._health:
                down = [e for e in self.endpoints if not e.up]
                if not down or self._closed:
                    self._prober = None
                    return
                self._health.wait(self.probe_interval_s)  # close() ends the wait early
                if self._closed:
                    self._prober = None
                    return
            for e in down:
                try:
                    answer = e.health.Check(health_pb2.HealthCheckRequest(), timeout=self.probe_interval_s)
                except grpc.RpcError:
                    continue
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    self._mark_up(e)

    # ---- observability -------------------------------------------------------------------------

    def stats(self) -> PoolStats:
        return self.pool.stats()

    def endpoint_stats(self) -> list[EndpointStats]:
        return [e.stats() for e in self.endpoints]

    def close(self) -> None:
        with self._health:
            self._closed = True
            self._health.notify_all()
        self.pool.shutdown(wait=False, cancel_pending=True)
        for e in self.endpoints:
            e.channel.close()
