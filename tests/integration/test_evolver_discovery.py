"""An evolver run with discovery on, on real servers (two evaluators, a discovery service with
the real engine, an evolver; 127.0.0.1:0): discoveries run beside evolution and report in
WatchRun; killing the discovery service and one evaluator mid-run leaves the run evolving to
its end, the failed discoveries named in the reports."""
from __future__ import annotations

import grpc
import pytest
from planted_discovery import missing_synapse_dataset

from neatai.datasets_servicer import upload_dataset
from neatai.discovery.server import start as start_discovery
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc

T = 30
S = evolver_pb2


def loopback() -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, grace_s=0)


@pytest.fixture
def servers(tmp_path):
    evaluators = [start_evaluator(EvaluatorConfig(threads=1, memory_check_interval_s=60,
                                                  recording_dir=str(tmp_path / f"rec{k}")), loopback())
                  for k in range(2)]
    addresses = [e.address for e in evaluators]
    discovery = start_discovery(addresses, tmp_path / "cache", loopback(), evaluator_threads=2)
    evolver = start_evolver(addresses, None, loopback(), rpc_timeout=10, discovery=discovery.address,
                            discovery_timeout=30)
    yield evaluators, discovery, evolver
    for s in (evolver, discovery, *evaluators):
        s.stop(0)


def test_a_run_keeps_evolving_when_discovery_and_an_evaluator_die(servers):
    evaluators, discovery, evolver = servers
    with grpc.insecure_channel(evolver.address) as ch:
        dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(ch), missing_synapse_dataset(), timeout=T).dataset_id
        stub = evolver_pb2_grpc.EvolverServiceStub(ch)
        config = S.RunConfig(population_size=20, seed=5, target_error=0.0, timeout_seconds=10.0,
                             discovery_sample_rate=0.5, discovery_interval=2, discovery_plateau=2)
        run_id = stub.StartRun(S.StartRunRequest(config=config, dataset_id=dataset_id), timeout=T).run_id
        reports, killed_at = [], None
        for message in stub.WatchRun(S.WatchRunRequest(run_id=run_id), timeout=60):
            reports.append(message.report)
            if killed_at is None and message.report.discovery_runs:
                killed_at = message.report.generation
                discovery.stop(0)
                evaluators[1].stop(0)
        run = stub.GetRun(S.GetRunRequest(run_id=run_id), timeout=T).run
    assert run.state == S.RUN_STATE_EXHAUSTED, run.message  # ran to its time budget
    assert killed_at is not None, "no discovery finished before the run ended"
    before = [r for r in reports if r.generation <= killed_at and r.discovery_runs]
    assert before and not before[-1].discovery_error and before[-1].discovery_seconds > 0
    after = [r for r in reports if r.generation > killed_at]
    assert len(after) > 5  # evolution went on
    failed = [r for r in after if r.discovery_runs and r.discovery_error]
    assert failed and "UNAVAILABLE" in failed[0].discovery_error
