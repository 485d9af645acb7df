"""gRPC adapter over DiscoveryService: validate requests, stream progress, translate domain
errors into precise statuses, convert results to messages. No discovery logic lives here."""
from __future__ import annotations

import math
import queue
import threading
import time

import grpc

from neatai.costs import cost_name
from neatai.creature import Creature, CreatureError, CreatureTooLarge, Limits, Problem
from neatai.datasets import DatasetLimits, DatasetNotFound
from neatai.datasets_servicer import DatasetServicer
from neatai.errors import abort_exhausted, abort_invalid, abort_too_large
from neatai.evaluator_pool import BatchRejected, EvaluatorError
from neatai.handlers import add_services
from neatai.stats import pool_pb
from neatai.tracing import carry_context
from neatai.v1 import dataset_pb2, discovery_pb2, discovery_pb2_grpc

from .diagnostics import TypeDiagnostics
from .pipeline import Cancelled, DeadlineExceeded, DiscoveryOutcome, Scored
from .service import (
    DEFAULT_ANALYSIS_TIMEOUT_S, DEFAULT_MAX_OUTGOING_WEIGHT, DEFAULT_RECORD_TIMEOUT_S, DEFAULT_SAMPLE_RATE, MAX_TIMEOUT_S,
    Busy, DiscoverOptions, DiscoveryService, RecordingTooLarge, ShapeMismatch,
)

STAGE = {"recording": discovery_pb2.DISCOVERY_STAGE_RECORDING, "analysis": discovery_pb2.DISCOVERY_STAGE_ANALYSIS,
         "phase1": discovery_pb2.DISCOVERY_STAGE_PHASE1, "phase2": discovery_pb2.DISCOVERY_STAGE_PHASE2}
MAX_SLOTS = 10_000


def options_from(msg: discovery_pb2.DiscoverOptions) -> tuple[DiscoverOptions, list[Problem]]:
    """The options a request names, and what is wrong with them (paths under `options.`)."""
    problems = []

    def value(name: str, default: float, ok, rule: str) -> float:
        v = getattr(msg, name) if msg.HasField(name) else default
        if not (math.isfinite(v) and ok(v)):
            problems.append(Problem(f"options.{name}", f"{rule}, got {v}"))
        return v

    rate = value("sample_rate", DEFAULT_SAMPLE_RATE, lambda v: 0 < v <= 1, "must be in (0, 1]")
    growth = value("cost_of_growth", 1e-7, lambda v: v >= 0, "must be finite and >= 0")
    record_s = value("record_timeout_seconds", DEFAULT_RECORD_TIMEOUT_S, lambda v: 0 < v <= MAX_TIMEOUT_S,
                     f"must be in (0, {MAX_TIMEOUT_S:.0f}]")
    analysis_s = value("analysis_timeout_seconds", DEFAULT_ANALYSIS_TIMEOUT_S, lambda v: 0 < v <= MAX_TIMEOUT_S,
                       f"must be in (0, {MAX_TIMEOUT_S:.0f}]")
    max_weight = value("max_outgoing_weight", DEFAULT_MAX_OUTGOING_WEIGHT, lambda v: 0 < v <= 100, "must be in (0, 100]")
    slots = None
    if msg.HasField("max_candidates"):
        slots = msg.max_candidates
        if not 1 <= slots <= MAX_SLOTS:
            problems.append(Problem("options.max_candidates", f"must be in 1..{MAX_SLOTS}, got {slots}"))
    cost = cost_name(msg.cost)
    if cost is None:
        problems.append(Problem("options.cost", f"unknown CostFunction value {msg.cost}"))
    options = DiscoverOptions(
        sample_rate=rate, cost=cost or "MSE", cost_of_growth=growth, seed=msg.seed if msg.HasField("seed") else 0,
        max_candidates=slots, combinations=not msg.skip_combinations, record_timeout_s=record_s,
        analysis_timeout_s=analysis_s, focus_neurons=tuple(msg.focus_neuron_uuids), feedback_loop=msg.feedback_loop,
        max_outgoing_weight=max_weight)
    return options, problems


def focus_problems(creature: Creature, focus: tuple[str, ...]) -> list[Problem]:
    known = {n.uuid for n in creature.neurons}
    return [Problem(f"options.focus_neuron_uuids[{i}]", f"no neuron {u!r} in the creature (inputs cannot be focused)")
            for i, u in enumerate(focus) if u not in known]


def improvement_pb(r: Scored) -> discovery_pb2.Improvement:
    c = r.candidate
    return discovery_pb2.Improvement(
        change_type=c.change_type, description=c.description, creature=c.creature.to_proto(),
        score=r.outcome.candidate_score, error=r.outcome.error, score_delta=r.outcome.delta, phase=r.phase,
        expected_gain=c.expected_gain, cache_key=c.key)


def diagnostics_pb(items: dict[str, TypeDiagnostics]) -> list[discovery_pb2.ChangeTypeDiagnostics]:
    return [discovery_pb2.ChangeTypeDiagnostics(
        change_type=t, evaluated=d.evaluated, improved=d.improved, mean_score_delta=d.mean_delta,
        success_rate=d.success_rate, repaired=d.repaired, skipped_cached=d.skipped_cached)
        for t, d in sorted(items.items())]


def result_pb(outcome: DiscoveryOutcome, total_s: float) -> discovery_pb2.DiscoveryResult:
    analysis = outcome.analysis
    msg = discovery_pb2.DiscoveryResult(
        discovery_id=outcome.id, improved=outcome.improved, original_score=outcome.original_score,
        original_error=outcome.original_error, diagnostics=diagnostics_pb(outcome.diagnostics),
        stage_seconds={**outcome.timings, "total": total_s},
        candidates_built=sum(outcome.built.built.values()), candidates_rejected=sum(outcome.built.rejected.values()),
        candidates_repaired=sum(outcome.built.repaired.values()),
        backend=analysis.backend if analysis else "", observations=analysis.observations if analysis else 0,
        analysis_timed_out=bool(analysis and analysis.timed_out))
    if outcome.best is not None:
        msg.best.CopyFrom(improvement_pb(outcome.best))
    msg.additional.extend(improvement_pb(r) for r in outcome.additional)
    return msg


_DONE = object()


class DiscoveryServicer(discovery_pb2_grpc.DiscoveryServiceServicer):
    def __init__(self, service: DiscoveryService, limits: Limits = Limits()):
        self.service = service
        self.limits = limits  # creature sizes accepted (RESOURCE_EXHAUSTED beyond)

    def Discover(self, request: discovery_pb2.DiscoverRequest, context):
        options, problems = options_from(request.options)
        if not request.dataset_id:
            problems.append(Problem("dataset_id", "required: register the dataset with DatasetService first"))
        if not request.HasField("creature"):
            problems.append(Problem("creature", "required"))
        if problems:
            abort_invalid(context, "invalid DiscoverRequest", problems)
        try:
            creature = Creature.from_proto(request.creature, self.limits)
        except CreatureTooLarge as e:
            abort_too_large(context, "creature", e)
        except CreatureError as e:
            abort_invalid(context, "invalid creature", e.problems, prefix="creature.")
        problems = focus_problems(creature, options.focus_neurons)
        if problems:
            abort_invalid(context, "invalid DiscoverRequest", problems)
        start = time.monotonic()
        remaining = context.time_remaining()
        deadline = None if remaining is None else start + remaining
        # The run goes on a thread of its own so progress streams while it works; the call
        # ending (cancel, deadline, client gone) is what stops it.
        events: queue.SimpleQueue = queue.SimpleQueue()

        def progress(stage: str, detail: dict) -> None:
            events.put(discovery_pb2.DiscoverResponse(progress=discovery_pb2.DiscoverProgress(
                stage=STAGE[stage], elapsed_seconds=time.monotonic() - start, candidates=detail.get("candidates", 0))))

        def work() -> None:
            try:
                outcome = self.service.discover(request.dataset_id, creature, options, progress,
                                                lambda: not context.is_active(), deadline)
                events.put(discovery_pb2.DiscoverResponse(result=result_pb(outcome, time.monotonic() - start)))
            except BaseException as e:  # noqa: BLE001 — handed to the call's thread below
                events.put(e)
            events.put(_DONE)

        # The run's stage spans belong to this call's trace.
        threading.Thread(target=carry_context(work), name="discover", daemon=True).start()
        while True:
            event = events.get()
            if event is _DONE:
                return
            if isinstance(event, BaseException):
                self._abort(context, event, request.dataset_id)
            yield event

    @staticmethod
    def _abort(context, e: BaseException, dataset_id: str):
        if isinstance(e, DatasetNotFound):
            context.abort(grpc.StatusCode.NOT_FOUND, f"dataset {dataset_id} not registered on this discovery service; "
                                                     "upload it with DatasetService.RegisterDataset and retry")
        if isinstance(e, ShapeMismatch):
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        if isinstance(e, RecordingTooLarge):
            abort_exhausted(context, e.limit, str(e))
        if isinstance(e, Busy):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        if isinstance(e, DeadlineExceeded):
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(e))
        if isinstance(e, Cancelled):
            context.abort(grpc.StatusCode.CANCELLED, str(e))
        if isinstance(e, BatchRejected):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        if isinstance(e, EvaluatorError):
            context.abort(grpc.StatusCode.UNAVAILABLE, f"no evaluator could record or score: {e}")
        context.abort(grpc.StatusCode.INTERNAL, f"discovery failed: {type(e).__name__}: {e}")

    def GetDiscoveryStats(self, request, context):
        s = self.service
        totals = s.snapshot()
        entries = [discovery_pb2.DiscoveryCacheEntries(cache=cache, change_type=t, entries=n)
                   for cache, types in s.caches.counts().items() for t, n in types.items()]
        finished = totals.runs["improved"] + totals.runs["unimproved"]
        return discovery_pb2.GetDiscoveryStatsResponse(
            cache_entries=entries, backend=s.config.backend, runs=finished, runs_improved=totals.runs["improved"],
            runs_failed=totals.runs["failed"], runs_cancelled=totals.runs["cancelled"],
            runs_in_flight=totals.in_flight, totals=diagnostics_pb(totals.by_type), pools=[pool_pb(s.pool.stats())])


def add_to_server(server: grpc.Server, service: DiscoveryService, dataset_limits: DatasetLimits,
                  creature_limits: Limits = Limits()) -> list[str]:
    """Register DiscoveryService and DatasetService; returns their full names."""
    return add_services(
        server,
        (discovery_pb2.DESCRIPTOR.services_by_name["DiscoveryService"], DiscoveryServicer(service, creature_limits)),
        (dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"], DatasetServicer(service.datasets, dataset_limits)))
