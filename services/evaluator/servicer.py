"""gRPC adapters over the Evaluator: validate requests, translate domain errors into precise
status codes, convert messages. No evaluation logic lives here."""
from __future__ import annotations

import math
from pathlib import Path

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from neatai.costs import cost_name
from neatai.creature import Creature, CreatureError, CreatureTooLarge, Problem
from neatai.datasets import DatasetLimits, DatasetNotFound
from neatai.datasets_servicer import DatasetServicer
from neatai import predictive_coding_options as pc_options
from neatai.errors import abort_exhausted, abort_invalid, abort_too_large
from neatai.training_options import field_of, option_problems, options_from_proto, strategy_number
from neatai.stats import cache_pb, memory_pb, pool_pb
from neatai.handlers import add_services
from neatai.v1 import creature_pb2, dataset_pb2, evaluator_pb2, evaluator_pb2_grpc
from neatai.recording import DEFAULT_SAMPLE_RATE, LOCK, DiskSpaceError, RecordingError
from neatai.wire import evaluate_response, split_evaluate_request

from .recorder import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, RecordingStopped, delete, inside, read_chunks
from .wire_reader import read_creature
from .service import EvaluationError, Evaluator, ShapeMismatch
from .train_jobs import TrainOutcome, TrainingJob
from .training import TrainingStopped

MAX_SESSION_ID = 256  # characters of an Activate session id


def check_count(context: grpc.ServicerContext, n: int, limits) -> None:
    """Creatures per request, counted before any is read."""
    if n > limits.max_creatures_per_request:
        abort_exhausted(context, "max_creatures_per_request",
                        f"{n} creatures in one request exceed the limit of {limits.max_creatures_per_request} "
                        "(max_creatures_per_request): send them in smaller batches")


def not_found(context: grpc.ServicerContext, dataset_id: str):
    context.abort(grpc.StatusCode.NOT_FOUND,
                  f"dataset {dataset_id} not registered; upload it with DatasetService.RegisterDataset and retry")


def creature_from(msg, limits, context, prefix: str) -> Creature:
    try:
        return Creature.from_proto(msg, limits)
    except CreatureTooLarge as e:
        abort_too_large(context, prefix.rstrip(".") or "creature", e)
    except CreatureError as e:
        abort_invalid(context, f"invalid {prefix.rstrip('.') or 'creature'}", e.problems, prefix=prefix)


class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    def __init__(self, evaluator: Evaluator):
        self.evaluator = evaluator

    def Evaluate(self, data: bytes, context):
        # The request arrives serialized (see add_to_server): each creature is read once, straight
        # from these bytes, by the compiled wire reader; only the other fields go through protobuf.
        split = split_evaluate_request(data)
        if split is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid neatai.v1.EvaluateRequest message")
        rest, spans = split
        try:
            request = evaluator_pb2.EvaluateRequest.FromString(rest)
        except DecodeError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid neatai.v1.EvaluateRequest message ({e})")
        problems = []
        if not request.dataset_id:
            problems.append(Problem("dataset_id", "required"))
        cost = cost_name(request.cost)
        if cost is None:
            problems.append(Problem("cost", f"unknown CostFunction value {request.cost}"))
        rate = request.fitness_sample_rate if request.HasField("fitness_sample_rate") else 1.0
        if not (0 < rate <= 1):
            problems.append(Problem("fitness_sample_rate", f"must be in (0, 1], got {rate}"))
        growth = request.cost_of_growth if request.HasField("cost_of_growth") else 1e-7
        if not (math.isfinite(growth) and growth >= 0):
            problems.append(Problem("cost_of_growth", f"must be finite and >= 0, got {growth}"))
        if problems:
            abort_invalid(context, "invalid EvaluateRequest", problems)
        creatures, problems = [], []
        limits = self.evaluator.limits
        check_count(context, len(spans), limits)
        for i, (at, length) in enumerate(spans):
            # Valid messages go straight to the compiled form (~2 µs); the model loader takes the
            # rest: it re-sorts what needs it and words every problem.
            flat = read_creature(data, limits.max_inputs, limits.max_outputs, limits.max_neurons,
                                 limits.max_synapses, at, length)
            if flat is not None:
                creatures.append(flat)
                continue
            try:
                creatures.append(Creature.from_proto(creature_pb2.Creature.FromString(data[at:at + length]), limits))
            except DecodeError as e:
                problems.append(Problem(f"creatures[{i}]", f"not a valid neatai.v1.Creature message ({e})"))
            except CreatureTooLarge as e:
                abort_too_large(context, f"creatures[{i}]", e)
            except CreatureError as e:
                problems.extend(Problem(f"creatures[{i}].{p.path}", p.message) for p in e.problems)
        if problems:
            abort_invalid(context, "invalid creatures", problems)
        try:
            scored = self.evaluator.evaluate_scores(request.dataset_id, creatures, cost, growth, rate,
                                                    request.feedback_loop, request.structural_hashes)
        except DatasetNotFound:
            not_found(context, request.dataset_id)
        except ShapeMismatch as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except EvaluationError as e:
            abort_invalid(context, "invalid EvaluateRequest", [Problem(e.field, str(e))])
        # the EvaluateResponse written from the columns (no message objects)
        return evaluate_response(scored.errors, scored.scores, scored.compile_seconds, scored.activate_seconds,
                                 scored.structural_hashes)

    def Activate(self, request: evaluator_pb2.ActivateRequest, context):
        if not request.HasField("creature"):
            abort_invalid(context, "invalid ActivateRequest", [Problem("creature", "required")])
        creature = creature_from(request.creature, self.evaluator.limits, context, "creature.")
        m = request.inputs
        problems = []
        if m.cols != creature.input:
            problems.append(Problem("inputs.cols", f"must equal the creature's {creature.input} inputs, got {m.cols}"))
        if m.rows < 0:
            problems.append(Problem("inputs.rows", f"must be >= 0, got {m.rows}"))
        elif len(m.values) != m.rows * m.cols:
            problems.append(Problem("inputs.values", f"expected rows × cols = {m.rows * m.cols} values, got {len(m.values)}"))
        if problems:
            abort_invalid(context, "invalid ActivateRequest", problems)
        X = np.asarray(m.values, dtype=np.float32).reshape(m.rows, m.cols)
        if not np.isfinite(X).all():
            row = int(np.argwhere(~np.isfinite(X))[0][0])
            abort_invalid(context, "invalid ActivateRequest", [Problem("inputs.values", f"non-finite value in row {row}")])
        if len(request.session_id) > MAX_SESSION_ID:
            abort_invalid(context, "invalid ActivateRequest",
                          [Problem("session_id", f"at most {MAX_SESSION_ID} characters, got {len(request.session_id)}")])
        steps = 0
        try:
            if request.session_id:
                Y, steps = self.evaluator.step(request.session_id, creature, X, request.reset_session)
            else:
                Y = self.evaluator.activate(creature, X, request.feedback_loop)
        except EvaluationError as e:
            abort_invalid(context, "invalid ActivateRequest", [Problem(e.field, str(e))])
        return evaluator_pb2.ActivateResponse(outputs=dataset_pb2.Matrix(
            rows=Y.shape[0], cols=Y.shape[1], values=Y.ravel().tolist()), session_steps=steps)

    def Train(self, request: evaluator_pb2.TrainRequest, context):
        job = self._start_training(request, context, progress=False)
        try:
            outcomes = job.results()
        except TrainingStopped as e:
            context.abort(grpc.StatusCode.CANCELLED, f"training stopped: {e}")
        return evaluator_pb2.TrainResponse(results=[train_result_pb(o) for o in outcomes])

    def TrainStream(self, request: evaluator_pb2.TrainStreamRequest, context):
        job = self._start_training(request, context, progress=True)
        try:
            for event in job.events():
                if isinstance(event, TrainOutcome):
                    yield evaluator_pb2.TrainStreamResponse(result=train_result_pb(event))
                else:
                    yield evaluator_pb2.TrainStreamResponse(progress=evaluator_pb2.TrainProgress(
                        index=event.index, iterations=event.iterations, error=event.error))
        except TrainingStopped as e:
            context.abort(grpc.StatusCode.CANCELLED, f"training stopped: {e}")

    def _start_training(self, request, context, progress: bool) -> TrainingJob:
        """Validate a TrainRequest or TrainStreamRequest (the same fields) and start its job,
        stopped when the call ends early (cancelled, deadline passed)."""
        problems = [] if request.dataset_id else [Problem("dataset_id", "required")]
        cost = cost_name(request.cost)
        if cost is None:
            problems.append(Problem("cost", f"unknown CostFunction value {request.cost}"))
        creatures = []
        check_count(context, len(request.creatures), self.evaluator.limits)
        for i, msg in enumerate(request.creatures):
            try:
                creatures.append(Creature.from_proto(msg, self.evaluator.limits))
            except CreatureTooLarge as e:
                abort_too_large(context, f"creatures[{i}]", e)
            except CreatureError as e:
                problems.extend(Problem(f"creatures[{i}].{p.path}", p.message) for p in e.problems)
        if not request.creatures:
            problems.append(Problem("creatures", "at least one creature is required"))
        options = options_from_proto(request.options)
        problems += [Problem(f"options.{field_of(name)}", f"{name} {message}")
                     for name, message in option_problems(options)]
        if problems:
            abort_invalid(context, f"invalid {type(request).__name__}", problems)
        try:
            job = self.evaluator.train(request.dataset_id, creatures, cost, request.feedback_loop,
                                       options, stop=lambda: not context.is_active(),
                                       progress=progress)
        except DatasetNotFound:
            not_found(context, request.dataset_id)
        except ShapeMismatch as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except EvaluationError as e:
            abort_invalid(context, f"invalid {type(request).__name__}", [Problem(e.field, str(e))])
        context.add_callback(job.cancel)
        return job

    def Record(self, request: evaluator_pb2.RecordRequest, context):
        problems = [] if request.dataset_id else [Problem("dataset_id", "required")]
        if not request.HasField("creature"):
            problems.append(Problem("creature", "required"))
        rate = request.sample_rate if request.HasField("sample_rate") else DEFAULT_SAMPLE_RATE
        if not (0 < rate <= 1):
            problems.append(Problem("sample_rate", f"must be in (0, 1], got {rate}"))
        timeout = request.timeout_seconds if request.HasField("timeout_seconds") else DEFAULT_TIMEOUT_S
        if not (0 < timeout <= MAX_TIMEOUT_S):
            problems.append(Problem("timeout_seconds", f"must be in (0, {MAX_TIMEOUT_S}], got {timeout}"))
        pc = pc_options.from_proto(request.predictive_coding) if request.HasField("predictive_coding") else None
        problems += [Problem(pc_options.field_path(name), message) for name, message in pc_options.problems(pc)]
        if problems:
            abort_invalid(context, "invalid RecordRequest", problems)
        creature = creature_from(request.creature, self.evaluator.limits, context, "creature.")
        try:
            out = self.evaluator.record(request.dataset_id, creature, rate,
                                        request.seed if request.HasField("seed") else None, timeout,
                                        stop=lambda: not context.is_active(), predictive_coding=pc)
        except DatasetNotFound:
            not_found(context, request.dataset_id)
        except ShapeMismatch as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except DiskSpaceError as e:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        except RecordingError as e:
            abort_invalid(context, "invalid RecordRequest", [Problem("creature", str(e))])
        except RecordingStopped as e:
            context.abort(grpc.StatusCode.CANCELLED, str(e))
        return evaluator_pb2.RecordResponse(
            path=str(out.path), bytes=out.bytes, observations=out.observations, rows=out.rows,
            directory=str(out.directory), seconds=out.seconds, timed_out=out.timed_out)

    def FetchRecording(self, request: evaluator_pb2.FetchRecordingRequest, context):
        chunk = request.chunk_bytes if request.HasField("chunk_bytes") else 1 << 20
        problems = [] if (1 << 10) <= chunk <= (4 << 20) else [
            Problem("chunk_bytes", f"must be in [1024, 4194304], got {chunk}")]
        path = inside(self.evaluator.config.recording_dir, request.path) if request.path else None
        if path is None:
            problems.append(Problem("path", f"{request.path!r} is not a recording of this evaluator "
                                            f"(RecordResponse.path, under {self.evaluator.config.recording_dir})"))
        if problems:
            abort_invalid(context, "invalid FetchRecordingRequest", problems)
        if not path.is_file():
            context.abort(grpc.StatusCode.NOT_FOUND, f"recording {path} does not exist (deleted?); record again")
        total = path.stat().st_size
        for offset, data in read_chunks(path, chunk):
            yield evaluator_pb2.FetchRecordingResponse(data=data, offset=offset, total_bytes=total)

    def DeleteRecording(self, request: evaluator_pb2.DeleteRecordingRequest, context):
        folder = inside(self.evaluator.config.recording_dir, request.directory) if request.directory else None
        if folder is None or folder.parent != Path(self.evaluator.config.recording_dir).resolve():
            abort_invalid(context, "invalid DeleteRecordingRequest", [Problem(
                "directory", f"{request.directory!r} is not a recording folder of this evaluator (RecordResponse.directory)")])
        if not folder.is_dir():
            context.abort(grpc.StatusCode.NOT_FOUND, f"recording {folder} does not exist (already deleted?)")
        if (folder / LOCK).exists():
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"recording {folder} is still being written; "
                                                               "delete it once its Record call has answered")
        delete(folder)
        return evaluator_pb2.DeleteRecordingResponse()

    def GetStats(self, request, context):
        s = self.evaluator.stats()
        return evaluator_pb2.GetStatsResponse(
            caches=[cache_pb(c) for c in s.caches], pools=[pool_pb(p) for p in s.pools], memory=memory_pb(s.memory))


def train_result_pb(o: TrainOutcome) -> evaluator_pb2.TrainResult:
    return evaluator_pb2.TrainResult(
        index=o.index, creature=o.creature.to_proto(), error_before=o.error_before, error_after=o.error_after,
        iterations=o.iterations, learning_rate_strategy=strategy_number(o.learning_rate_strategy), seconds=o.seconds)


def add_to_server(server: grpc.Server, evaluator: Evaluator, dataset_limits: DatasetLimits) -> list[str]:
    """Register EvaluatorService (Evaluate takes its request serialized) and DatasetService;
    returns their full names."""
    return add_services(
        server,
        (evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"], EvaluatorServicer(evaluator), ("Evaluate",)),
        (dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"], DatasetServicer(evaluator.datasets, dataset_limits)))
