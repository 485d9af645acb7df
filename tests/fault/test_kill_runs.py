"""kill -9 at random points: an evaluator and the evolver are each SIGKILLed once per run, at a
generation and a moment inside it drawn from the run's seed, and restarted in place. Every run
still ends with exactly the result of the uninterrupted run (same length, evaluations, best
error and best creature), and a kill always lands mid-run.

`make test` runs NEATAI_FAULT_RUNS=1 (seconds); `make fault` runs 20 and prints the tally."""
from __future__ import annotations

import os

import pytest
from chaos import CONFIG, Cluster, EvolverClient, interrupted_run, outcome

RUNS = int(os.environ.get("NEATAI_FAULT_RUNS", "1"))
TALLY = {"runs": 0, "same_result": 0, "evaluator_kills": 0, "evolver_kills": 0, "generations": []}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("faults") / "state")
    yield c
    c.close()
    print(f"\nfault campaign: {TALLY['runs']} runs, {TALLY['evaluator_kills']} evaluator + "
          f"{TALLY['evolver_kills']} evolver kill -9, {TALLY['same_result']} ended as the uninterrupted run, "
          f"runs lost {TALLY['runs'] - TALLY['same_result']}; kills landed in generations "
          f"{min(TALLY['generations'], default=0)}..{max(TALLY['generations'], default=0)} of {CONFIG['iterations']}")


@pytest.fixture(scope="module")
def uninterrupted(cluster):
    client = EvolverClient(cluster.evolver.address)
    try:
        client.start("reference")
        return outcome(client.wait("reference"))
    finally:
        client.close()


@pytest.mark.parametrize("seed", range(RUNS))
def test_a_run_killed_at_random_points_ends_as_an_uninterrupted_one(cluster, uninterrupted, seed):
    assert uninterrupted["state"] == "RUN_STATE_EXHAUSTED" and uninterrupted["generation"] == CONFIG["iterations"]
    run, kills = interrupted_run(cluster, f"chaos-{seed}", seed)
    TALLY["runs"] += 1
    for kill in kills:
        TALLY[f"{kill.target}_kills"] += 1
        TALLY["generations"].append(kill.generation)
    assert all(1 <= k.generation < CONFIG["iterations"] for k in kills), f"a kill missed the run: {kills}"
    assert outcome(run) == uninterrupted, f"kills {kills}: {run.message}"
    TALLY["same_result"] += 1
