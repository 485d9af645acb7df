"""End to end on real servers with the real analysis engine: the evaluator records a creature
missing an obvious synapse (target x0 + x1, it lacks input-1 → output-0) to Parquet, the engine analyses
the recording, the pipeline scores its suggestions through Evaluate, and the creature comes back
improved with that synapse (weight 1: the weight cap is raised to 10 for it); a second run skips
what failed the first time."""
from __future__ import annotations

import grpc
import pytest
from planted_discovery import missing_synapse_creature, missing_synapse_dataset

from neatai.creature import Creature
from neatai.datasets_servicer import upload_dataset
from neatai.discovery.server import start as start_discovery
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, discovery_pb2, discovery_pb2_grpc

T = 60
DATA = missing_synapse_dataset()


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    evaluator = start_evaluator(EvaluatorConfig(threads=2, memory_check_interval_s=60,
                                                recording_dir=str(tmp_path_factory.mktemp("recordings"))),
                                ServerConfig(host="127.0.0.1", port=0, grace_s=0))
    discovery = start_discovery([evaluator.address], tmp_path_factory.mktemp("cache"),
                                ServerConfig(host="127.0.0.1", port=0, grace_s=0), evaluator_threads=2)
    with grpc.insecure_channel(discovery.address) as ch:
        upload_dataset(dataset_pb2_grpc.DatasetServiceStub(ch), DATA)
        yield discovery_pb2_grpc.DiscoveryServiceStub(ch)
    discovery.stop(0)
    evaluator.stop(0)


def run(stub) -> discovery_pb2.DiscoveryResult:
    request = discovery_pb2.DiscoverRequest(dataset_id=DATA.id, creature=missing_synapse_creature().to_proto(),
                                            options=discovery_pb2.DiscoverOptions(seed=3, sample_rate=0.5,
                                                                                  max_outgoing_weight=10.0))
    (*_, last) = stub.Discover(request, timeout=T)
    return last.result


def test_the_planted_missing_synapse_comes_back_improved_and_failures_are_skipped_next_time(stub):
    first = run(stub)
    assert first.improved and first.best.score > first.original_score
    assert first.backend in ("numpy", "cupy") and first.observations == 300
    best = Creature.from_proto(first.best.creature)
    assert ("input-1", "output-0") in {(s.from_uuid, s.to_uuid) for s in best.synapses}
    failed = sum(d.evaluated - d.improved for d in first.diagnostics if d.change_type != "combo-successful")
    second = run(stub)
    assert second.improved
    assert sum(d.skipped_cached for d in second.diagnostics) >= failed
