"""Fault injection for the fault tests: real `neatai serve` processes on loopback (two evaluators
and an evolver), SIGKILLed at seeded random points of a run and restarted in place (same port,
same state directory), and the reference an uninterrupted run gives."""
from __future__ import annotations

import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
from ops_procs import Service  # noqa: E402

from neatai.creature import Creature  # noqa: E402
from neatai.datasets import xor  # noqa: E402
from neatai.datasets_servicer import upload_dataset  # noqa: E402
from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc  # noqa: E402

T = 30  # seconds: every unary call's deadline
# A run that cannot reach its target: it always ends EXHAUSTED after exactly `iterations`
# generations, so interrupted and uninterrupted runs are compared over the same length.
CONFIG = dict(population_size=40, seed=11, target_error=0.0, iterations=120)
LAST_KILL = 60  # kills land in generations 2..LAST_KILL, well before the end


def outcome(run: evolver_pb2.Run) -> dict:
    """What must not change when a run is interrupted: state, length, work done, best creature."""
    return {"state": evolver_pb2.RunState.Name(run.state), "generation": run.latest.generation,
            "evaluations": run.latest.evaluations, "best_error": run.latest.best_error,
            "best": Creature.from_proto(run.best).to_dict()}


class EvolverClient:
    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(address)
        self.stub = evolver_pb2_grpc.EvolverServiceStub(self.channel)

    def start(self, run_id: str) -> None:
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(self.channel), xor(), timeout=T).dataset_id
        self.stub.StartRun(evolver_pb2.StartRunRequest(config=evolver_pb2.RunConfig(**CONFIG), dataset_id=dataset_id,
                                                       run_id=run_id), timeout=T)

    def get(self, run_id: str) -> evolver_pb2.Run:
        return self.stub.GetRun(evolver_pb2.GetRunRequest(run_id=run_id), timeout=T).run

    def wait(self, run_id: str, generation: int | None = None, timeout: float = 120) -> evolver_pb2.Run:
        """The run once it reached `generation` (None: once it ended)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(run_id)
            if run.state != evolver_pb2.RUN_STATE_RUNNING or (generation is not None and run.latest.generation >= generation):
                return run
            assert time.monotonic() < deadline, f"run {run_id} stuck at generation {run.latest.generation}: {run.message}"
            time.sleep(0.01)

    def close(self) -> None:
        self.channel.close()


@dataclass
class Kill:
    target: str  # "evaluator" or "evolver"
    generation: int  # the run's generation when the signal was sent


@dataclass
class Cluster:
    """Two evaluators and an evolver (over both) as processes; the evolver checkpoints to `state`."""
    state: Path
    evaluators: list[Service] = field(default_factory=list)
    evolver: Service | None = None

    def __post_init__(self):
        self.evaluators = [Service("evaluator", "--threads", "1", "--metrics-port", "none") for _ in range(2)]
        self.start_evolver()

    @property
    def evaluator_addresses(self) -> str:
        return ",".join(e.address for e in self.evaluators)

    def start_evolver(self) -> None:
        port = self.evolver.port if self.evolver else 0
        self.evolver = Service("evolver", "--evaluators", self.evaluator_addresses, "--state-dir", str(self.state),
                               "--metrics-port", "none", "--grace", "1", port=port)

    def sigkill(self, target: str, rng: random.Random) -> None:
        """kill -9 the target and start it again in place (same port; the evolver on the same state)."""
        if target == "evolver":
            self._kill(self.evolver)
            self.start_evolver()
        else:
            i = rng.randrange(len(self.evaluators))
            self._kill(self.evaluators[i])
            self.evaluators[i] = Service("evaluator", "--threads", "1", "--metrics-port", "none",
                                         port=self.evaluators[i].port)

    @staticmethod
    def _kill(service: Service) -> None:
        service.proc.send_signal(signal.SIGKILL)
        assert service.proc.wait(10) == -signal.SIGKILL

    def close(self) -> None:
        for service in [self.evolver, *self.evaluators]:
            service.kill()


def interrupted_run(cluster: Cluster, run_id: str, seed: int) -> tuple[evolver_pb2.Run, list[Kill]]:
    """Start a run, kill -9 one evaluator and the evolver at generations (and a delay into the
    generation) drawn from `seed`, restart each in place, and return the finished run."""
    rng = random.Random(seed)
    plan = sorted([(rng.randint(2, LAST_KILL), "evaluator"), (rng.randint(2, LAST_KILL), "evolver")])
    client = EvolverClient(cluster.evolver.address)
    client.start(run_id)
    kills = []
    for generation, target in plan:
        client.wait(run_id, generation)
        time.sleep(rng.uniform(0, 0.02))  # somewhere inside the generation, not at its edge
        kills.append(Kill(target, client.get(run_id).latest.generation))
        if target == "evolver":
            client.close()
        cluster.sigkill(target, rng)
        if target == "evolver":
            client = EvolverClient(cluster.evolver.address)
    try:
        return client.wait(run_id), kills
    finally:
        client.close()
