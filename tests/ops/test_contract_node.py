"""Cross-language contract: the Node client in contract/client.js, built from the .proto files
with @grpc/proto-loader, drives real evaluator and evolver servers on 127.0.0.1 end to end."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import grpc_tools
import pytest

from ops_procs import Service

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).parent / "contract" / "client.js"
GOOGLE_INCLUDE = Path(grpc_tools.__file__).parent / "_proto"


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    evaluator = Service("evaluator", "--threads", "1", "--metrics-port", "none")
    try:
        evolver = Service("evolver", "--evaluators", evaluator.address, "--metrics-port", "none",
                          "--state-dir", str(tmp_path_factory.mktemp("state")))
    except BaseException:
        evaluator.kill()
        raise
    yield evolver, evaluator
    for s in (evolver, evaluator):
        s.terminate()
        s.wait(30)


def test_node_client_runs_xor_end_to_end(services):
    evolver, evaluator = services
    assert (ROOT / "node_modules" / "@grpc" / "grpc-js").is_dir(), "run `make tools` (npm install)"
    node = shutil.which("node")
    assert node, "node is required for the contract test"
    out = subprocess.run(
        [node, str(CLIENT), evolver.address, evaluator.address, str(ROOT / "protos"), str(GOOGLE_INCLUDE)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"generations"' in out.stdout
