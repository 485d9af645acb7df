"""Client-computed fitness from Python: `evolve(fitness, ...)` runs NEAT on an evolver while the
creatures are scored here, by a local pool of processes (neat-python's `eval_genomes` habit,
over gRPC's Ask/Tell).

    from neatai.client import evolve
    from neatai.evaluator import compile_network

    def fitness(creature):                      # any picklable function of a Creature
        net = compile_network(creature)
        return episode_return(net)              # higher is better

    result = evolve(fitness, evolver="127.0.0.1:50052", inputs=4, outputs=1,
                    config={"populationSize": 150, "iterations": 100}, processes=4)
    result.best                                 # the best creature (neatai.creature.Creature)

`config` holds RunConfig fields in protobuf JSON form (`populationSize`, `targetError`,
`selection: "PARENT_SELECTION_TOURNAMENT"`, ...); `clientFitness` is filled in. A fitness
function that raises marks its creature failed (it ranks last) and the run goes on; a client
that dies loses nothing: its creatures are offered again when their lease runs out, to this
client or to any other scoring the same run (`join(run_id, ...)`).
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

import grpc
from google.protobuf import json_format

from neatai.creature import Creature
from neatai.v1 import evolver_pb2 as pb
from neatai.v1 import evolver_pb2_grpc

Fitness = Callable[[Creature], float]
WAIT_S = 5.0  # how long one Ask waits for free creatures
RPC_TIMEOUT = 60.0
MAX_MESSAGE = 64 << 20


@dataclass(frozen=True)
class Result:
    run_id: str
    state: str  # RunState name without its prefix: SOLVED, EXHAUSTED, STOPPED, FAILED
    generations: int
    evaluations: int
    best_fitness: float
    best: Creature | None


def evolve(fitness: Fitness, *, evolver: str, inputs: int, outputs: int, config: dict | pb.RunConfig | None = None,
           run_id: str = "", processes: int | None = None, batch_size: int | None = None,
           seed_creatures: Iterable[Creature] = ()) -> Result:
    """Start a client-scored run on `evolver` (host:port) and score it here until it ends.
    `processes`: the pool's size (default: the CPU count; 0 scores in this process)."""
    message = config if isinstance(config, pb.RunConfig) else json_format.ParseDict(config or {}, pb.RunConfig())
    message.client_fitness.inputs, message.client_fitness.outputs = inputs, outputs
    with _channel(evolver) as channel:
        stub = evolver_pb2_grpc.EvolverServiceStub(channel)
        run_id = stub.StartRun(pb.StartRunRequest(config=message, run_id=run_id,
                                                  seed_creatures=[c.to_proto() for c in seed_creatures]),
                               timeout=RPC_TIMEOUT).run_id
        return _score_until_done(stub, run_id, fitness, processes, batch_size)


def join(run_id: str, fitness: Fitness, *, evolver: str, processes: int | None = None,
         batch_size: int | None = None) -> Result:
    """Help score a client-scored run that is already going (started by `evolve` or StartRun)."""
    with _channel(evolver) as channel:
        return _score_until_done(evolver_pb2_grpc.EvolverServiceStub(channel), run_id, fitness, processes, batch_size)


def _channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, [("grpc.max_receive_message_length", MAX_MESSAGE),
                                           ("grpc.max_send_message_length", MAX_MESSAGE)])


def _score_until_done(stub, run_id: str, fitness: Fitness, processes: int | None, batch_size: int | None) -> Result:
    processes = os.cpu_count() or 1 if processes is None else processes
    batch = batch_size or max(1, 4 * processes)
    pool: Executor | None = ProcessPoolExecutor(processes) if processes > 0 else None
    try:
        while True:
            asked = stub.Ask(pb.AskRequest(run_id=run_id, max_creatures=batch, wait_seconds=WAIT_S),
                             timeout=WAIT_S + RPC_TIMEOUT)
            if asked.done:
                break
            if not asked.creatures:
                continue
            creatures = [Creature.from_proto(a.creature) for a in asked.creatures]
            outcomes = pool.map(_score, [fitness] * len(creatures), creatures) if pool else map(
                _score, [fitness] * len(creatures), creatures)
            stub.Tell(pb.TellRequest(run_id=run_id, scores=[
                pb.CreatureScore(id=a.id, **outcome) for a, outcome in zip(asked.creatures, outcomes)]),
                timeout=RPC_TIMEOUT)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return _result(stub, run_id)


def _score(fitness: Fitness, creature: Creature) -> dict:
    """CreatureScore fields for one creature; a raising or non-finite fitness is a failure."""
    try:
        value = float(fitness(creature))
    except Exception as e:  # noqa: BLE001 — the client's function: its failure is the creature's
        return {"failure": f"{type(e).__name__}: {e}"}
    if not math.isfinite(value):
        return {"failure": f"fitness {value} is not finite"}
    return {"fitness": value}


def _result(stub, run_id: str) -> Result:
    for _ in range(50):  # the last Tell completes the generation; the run ends just after
        info = stub.GetRun(pb.GetRunRequest(run_id=run_id), timeout=RPC_TIMEOUT).run
        if info.state != pb.RUN_STATE_RUNNING:
            break
        time.sleep(0.1)
    return Result(run_id, pb.RunState.Name(info.state).removeprefix("RUN_STATE_"), info.latest.generation,
                  info.latest.evaluations, info.latest.best_score,
                  Creature.from_proto(info.best) if info.HasField("best") else None)
