"""gRPC adapter over the run manager: validate requests, translate domain errors into precise
status codes, convert messages. No evolution logic lives here."""
from __future__ import annotations

import math

import grpc

from neatai.creature import Creature, CreatureError, CreatureTooLarge, Limits, Problem
from neatai.datasets import DatasetNotFound, DatasetStore
from neatai.errors import abort_exhausted, abort_invalid, abort_too_large
from neatai.evaluator_pool import EvaluatorPool
from neatai.handlers import add_services
from neatai.lru import CacheStats
from neatai.stats import cache_pb, pool_pb, to_message
from neatai.v1 import evolver_pb2, evolver_pb2_grpc

from neatai.tasks import CLASSIFICATION, REGRESSION

from .asktell import parse_id
from .config import ConfigError, EvolverConfig
from .runs import (
    GenerationReport, InvalidRequest, NotClientScored, NotResumable, OverLimit, Run, RunExists, RunFinished,
    RunManager, RunNotFound, ShuttingDown,
)

MAX_ASK = 10_000  # creatures per Ask
MAX_ASK_WAIT_S = 60.0


# neatai.v1.Task <-> the task names of neatai.tasks ("" = infer from the targets).
TASK_NAMES = {evolver_pb2.TASK_UNSPECIFIED: "", evolver_pb2.TASK_CLASSIFICATION: CLASSIFICATION,
              evolver_pb2.TASK_REGRESSION: REGRESSION}
TASK_NUMBERS = {name: number for number, name in TASK_NAMES.items()}


def report_pb(r: GenerationReport) -> evolver_pb2.GenerationReport:
    held_out = {k: getattr(r, k) for k in ("validation_error", "validation_accuracy", "validation_r2")
                if getattr(r, k) is not None}
    return evolver_pb2.GenerationReport(
        run_id=r.run_id, generation=r.generation, state=r.state.value, best_score=r.best_score,
        best_error=r.best_error, mean_score=r.mean_score, mean_error=r.mean_error, species=r.species,
        evaluations=r.evaluations, hidden_neurons=r.hidden_neurons, synapses=r.synapses,
        phase_seconds=r.phase_seconds, wall_seconds=r.wall_seconds, trained=r.trained,
        trained_improved=r.trained_improved, fine_tune_fraction=r.fine_tune_fraction,
        quantum_adjusted=r.quantum_adjusted,
        discovery_runs=r.discovery_runs, discovery_improved=r.discovery_improved,
        discovery_score_delta=r.discovery_score_delta, discovery_seconds=r.discovery_seconds,
        discovery_error=r.discovery_error, pause_reason=r.pause_reason,
        unreachable_evaluators=r.unreachable_evaluators, **held_out)


def run_info_pb(run: Run) -> evolver_pb2.RunInfo:
    info = evolver_pb2.RunInfo(run_id=run.id, state=run.state.value, config=run.config.to_proto(),
                               dataset_id=run.dataset.id if run.dataset is not None else "", message=run.message)
    if run.validation is not None:
        info.validation_dataset_id = run.validation.dataset.id
        info.task = TASK_NUMBERS[run.validation.task]
    latest = run.latest
    if latest is not None:
        info.latest.CopyFrom(report_pb(latest))
    best = run.best
    if best is not None:
        info.best.CopyFrom(best.to_proto())
    return info


def _not_found(context, run_id: str):
    context.abort(grpc.StatusCode.NOT_FOUND, f"no run {run_id!r} on this evolver")


class EvolverServicer(evolver_pb2_grpc.EvolverServiceServicer):
    def __init__(self, manager: RunManager, evaluators: EvaluatorPool, datasets: DatasetStore,
                 limits: Limits = Limits()):
        self.manager = manager
        self.evaluators = evaluators
        self.datasets = datasets
        self.limits = limits

    # ---- runs ----------------------------------------------------------------------------------

    def StartRun(self, request: evolver_pb2.StartRunRequest, context):
        problems: list[Problem] = []
        config = None
        try:
            config = EvolverConfig.from_proto(request.config)
        except ConfigError as e:
            problems += [Problem(f"config.{p.path}", p.message) for p in e.problems]
        if not request.dataset_id and not request.config.client_fitness.inputs:  # read even from a bad config
            problems.append(Problem("dataset_id", "required: register the dataset with DatasetService first"))
        seeds = self._creatures(request.seed_creatures, (), "seed_creatures", problems, context)
        if request.task not in TASK_NAMES:
            problems.append(Problem("task", f"unknown Task value {request.task}"))
        if problems:
            abort_invalid(context, "invalid StartRunRequest", problems)
        try:
            run = self.manager.start_run(config, request.dataset_id, request.run_id, seeds,
                                         request.validation_dataset_id, TASK_NAMES[request.task])
        except DatasetNotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, f"dataset {e.dataset_id} is not registered on this "
                                                     "evolver; upload it with DatasetService.RegisterDataset")
        except InvalidRequest as e:
            abort_invalid(context, "invalid StartRunRequest", e.problems)
        except RunExists as e:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, str(e))
        except OverLimit as e:
            abort_exhausted(context, e.limit, str(e))
        except ShuttingDown as e:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
        return evolver_pb2.StartRunResponse(run_id=run.id)

    def WatchRun(self, request: evolver_pb2.WatchRunRequest, context):
        if request.from_generation < 0:
            abort_invalid(context, "invalid WatchRunRequest", [Problem("from_generation", "must be >= 0")])
        try:
            reports = self.manager.watch(request.run_id, request.from_generation, active=context.is_active)
        except RunNotFound:
            _not_found(context, request.run_id)
        for report in reports:
            yield evolver_pb2.WatchRunResponse(report=report_pb(report))

    def GetRun(self, request, context):
        try:
            return evolver_pb2.GetRunResponse(run=run_info_pb(self.manager.get(request.run_id)))
        except RunNotFound:
            _not_found(context, request.run_id)

    def ListRuns(self, request, context):
        return evolver_pb2.ListRunsResponse(runs=[run_info_pb(r) for r in self.manager.list()])

    def StopRun(self, request, context):
        try:
            return evolver_pb2.StopRunResponse(state=self.manager.stop(request.run_id).value)
        except RunNotFound:
            _not_found(context, request.run_id)

    def ResumeRun(self, request, context):
        try:
            return evolver_pb2.ResumeRunResponse(state=self.manager.resume(request.run_id).value)
        except RunNotFound:
            _not_found(context, request.run_id)
        except NotResumable as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except ShuttingDown as e:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(e))

    # ---- populations ---------------------------------------------------------------------------

    def ExportPopulation(self, request, context):
        if request.limit < 0:
            abort_invalid(context, "invalid ExportPopulationRequest", [Problem("limit", "must be >= 0")])
        try:
            generation, creatures = self.manager.export(request.run_id, request.limit)
        except RunNotFound:
            _not_found(context, request.run_id)
        return evolver_pb2.ExportPopulationResponse(creatures_json=[c.to_json() for c in creatures],
                                                    generation=generation)

    def ImportCreatures(self, request, context):
        problems: list[Problem] = []
        creatures = self._creatures(request.creatures, request.creatures_json, "creatures", problems, context)
        if not problems and not creatures:
            problems.append(Problem("creatures", "no creatures given"))
        if problems:
            abort_invalid(context, "invalid ImportCreaturesRequest", problems)
        try:
            accepted = self.manager.import_creatures(request.run_id, creatures)
        except RunNotFound:
            _not_found(context, request.run_id)
        except InvalidRequest as e:
            abort_invalid(context, "invalid ImportCreaturesRequest", e.problems)
        except RunFinished as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        return evolver_pb2.ImportCreaturesResponse(accepted=accepted)

    # ---- client-computed fitness ---------------------------------------------------------------

    def Ask(self, request: evolver_pb2.AskRequest, context):
        problems = []
        if not 1 <= request.max_creatures <= MAX_ASK:
            problems.append(Problem("max_creatures", f"must be between 1 and {MAX_ASK:,}, got {request.max_creatures}"))
        if not 0 <= request.wait_seconds <= MAX_ASK_WAIT_S:
            problems.append(Problem("wait_seconds", f"must be between 0 and {MAX_ASK_WAIT_S:g}, got {request.wait_seconds}"))
        if problems:
            abort_invalid(context, "invalid AskRequest", problems)
        wait = request.wait_seconds
        remaining = context.time_remaining()
        if remaining is not None:  # answer (empty) before the caller gives up
            wait = max(0.0, min(wait, remaining - 0.5))
        try:
            generation, lent, state = self.manager.ask(request.run_id, request.max_creatures, wait)
        except RunNotFound:
            _not_found(context, request.run_id)
        except NotClientScored as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        return evolver_pb2.AskResponse(
            generation=generation, lease_seconds=self.manager.get(request.run_id).config.lease_seconds,
            creatures=[evolver_pb2.AskedCreature(id=cid, creature=c.to_proto()) for cid, c in lent],
            done=state.finished, state=state.value)

    def Tell(self, request: evolver_pb2.TellRequest, context):
        problems, results = [], []
        if not request.scores:
            problems.append(Problem("scores", "no scores given"))
        for i, score in enumerate(request.scores):
            if parse_id(score.id) is None:
                problems.append(Problem(f"scores[{i}].id", f"{score.id!r} is not an id Ask hands out "
                                                           "('<generation>-<position>')"))
            if score.failure:
                results.append((score.id, float("-inf"), float("inf")))
                continue
            error = score.error if score.HasField("error") else -score.fitness
            if not math.isfinite(score.fitness):
                problems.append(Problem(f"scores[{i}].fitness", f"must be finite, got {score.fitness} "
                                                                 "(report a creature that cannot be scored in failure)"))
            elif not math.isfinite(error):
                problems.append(Problem(f"scores[{i}].error", f"must be finite, got {error}"))
            results.append((score.id, score.fitness, error))
        if problems:
            abort_invalid(context, "invalid TellRequest", problems)
        try:
            accepted, ignored, generation = self.manager.tell(request.run_id, results)
        except RunNotFound:
            _not_found(context, request.run_id)
        except NotClientScored as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except RunFinished as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except InvalidRequest as e:
            abort_invalid(context, "invalid TellRequest", e.problems)
        return evolver_pb2.TellResponse(accepted=accepted, ignored=ignored, generation=generation)

    def _creatures(self, messages, texts, field: str, problems: list[Problem], context) -> list[Creature]:
        """Validate creatures given as messages and/or JSON; problems are `field[i].path`. Over a
        size limit: RESOURCE_EXHAUSTED."""
        n = len(messages) + len(texts)
        if n > self.limits.max_creatures_per_request:
            abort_exhausted(context, "max_creatures_per_request",
                            f"{n} creatures in {field} exceed the limit of {self.limits.max_creatures_per_request} "
                            "(max_creatures_per_request): send them in smaller batches")
        out = []
        for i, msg in enumerate(messages):
            try:
                out.append(Creature.from_proto(msg, self.limits))
            except CreatureTooLarge as e:
                abort_too_large(context, f"{field}[{i}]", e)
            except CreatureError as e:
                problems += [Problem(f"{field}[{i}].{p.path}", p.message) for p in e.problems]
        for i, text in enumerate(texts):
            try:
                out.append(Creature.from_json(text, self.limits))
            except CreatureTooLarge as e:
                abort_too_large(context, f"{field}_json[{i}]", e)
            except CreatureError as e:
                problems += [Problem(f"{field}_json[{i}].{p.path}", p.message) for p in e.problems]
        return out

    # ---- stats ---------------------------------------------------------------------------------

    def GetEvolverStats(self, request, context):
        return evolver_pb2.GetEvolverStatsResponse(
            caches=[cache_pb(c) for c in cache_stats(self.manager, self.datasets)],
            pools=[pool_pb(self.evaluators.stats())],
            evaluators=[to_message(e, evolver_pb2.EvaluatorEndpointStats) for e in self.evaluators.endpoint_stats()],
        )


def cache_stats(manager: RunManager, datasets: DatasetStore) -> list[CacheStats]:
    """The distance caches of every run (summed into one "distance" entry) and the dataset store."""
    runs = [r.evolution.distance.stats() for r in manager.list()]
    out = []
    if runs:
        out.append(CacheStats("distance", *(sum(getattr(s, f) for s in runs)
                                            for f in ("hits", "misses", "evictions", "current_size", "max_size"))))
    out.append(datasets.stats())
    return out


def add_to_server(server: grpc.Server, manager: RunManager, evaluators: EvaluatorPool, datasets: DatasetStore,
                  dataset_servicer, limits: Limits = Limits()) -> list[str]:
    """Register EvolverService and DatasetService; returns their full names."""
    from neatai.v1 import dataset_pb2

    return add_services(
        server,
        (evolver_pb2.DESCRIPTOR.services_by_name["EvolverService"], EvolverServicer(manager, evaluators, datasets, limits)),
        (dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"], dataset_servicer))
