"""The public API: buf STANDARD lint passes, and the generated code imports as neatai.v1 next
to neat-python (whose import name is `neat`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_buf_standard_lint_passes_on_protos():
    buf = ROOT / "node_modules" / ".bin" / "buf"
    assert buf.exists(), "buf missing: `make tools` installs it from npm (@bufbuild/buf)"
    result = subprocess.run([str(buf), "lint"], cwd=ROOT / "protos", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_imports_beside_neat_python():
    code = (
        "import neat, neat.nn\n"
        "from neatai.v1 import creature_pb2, dataset_pb2, evaluator_pb2, evaluator_pb2_grpc, evolver_pb2, evolver_pb2_grpc\n"
        "assert evolver_pb2.DESCRIPTOR.package == 'neatai.v1'\n"
        "assert 'EvolverService' in evolver_pb2.DESCRIPTOR.services_by_name\n"
        "assert 'EvaluatorService' in evaluator_pb2.DESCRIPTOR.services_by_name\n"
        "print(neat.__name__, evaluator_pb2.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["neat", "neatai.v1.evaluator_pb2"]


def test_generated_code_is_not_committed():
    tracked = subprocess.run(["git", "ls-files", "shared/v1"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked == ""


def test_every_enum_has_an_unspecified_zero_value():
    from neatai.v1 import creature_pb2, dataset_pb2, evaluator_pb2, evolver_pb2

    for module in (creature_pb2, dataset_pb2, evaluator_pb2, evolver_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.name
