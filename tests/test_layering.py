"""Dependencies run one way (DESIGN §1): shared/ (the package `neatai`) imports no service and
not the application layer, not even lazily inside a function; and one definition of each
constant the protos define."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "shared"
# Packages above shared/ in the layering: services, then the application.
ABOVE = ("neatai.evaluator", "neatai.evolver", "neatai.discovery", "neatai.app")


def _module_name(path: Path) -> str:
    parts = ["neatai", *path.relative_to(SHARED).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path) -> str:
    name = _module_name(path)
    return name if path.stem == "__init__" else name.rpartition(".")[0]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth; `from X import y`
    yields X and X.y (y may be a module)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _package_of(path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.append((node.lineno, str(node.args[0].value)))
    return out


def _sources() -> list[Path]:
    files = [p for p in SHARED.rglob("*") if p.suffix in (".py", ".pyx", ".pxd", ".pxi")]
    return sorted(p for p in files if "v1" not in p.relative_to(SHARED).parts)


def _python_sources() -> list[Path]:
    return [p for p in _sources() if p.suffix == ".py"]


def test_the_walk_sees_every_shared_module():
    names = {_module_name(p) for p in _python_sources()}
    assert {"neatai.creature", "neatai.server", "neatai.evaluator_pool", "neatai.genome.operators"} <= names


@pytest.mark.parametrize("path", _python_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shared_imports_no_service_and_not_the_app(path):
    bad = [(line, name) for line, name in imported_modules(path)
           if any(name == a or name.startswith(a + ".") for a in ABOVE)]
    assert not bad, f"{path.relative_to(ROOT)} imports " + ", ".join(f"{n} (line {ln})" for ln, n in bad)


def test_cython_sources_in_shared_import_no_service():
    """.pyx/.pxd/.pxi are not Python syntax; their import lines are checked as text."""
    for path in (p for p in _sources() if p.suffix != ".py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            words = line.split("#")[0].split()
            if words[:1] in (["import"], ["from"], ["cimport"]) and len(words) > 1:
                assert not any(words[1] == a or words[1].startswith(a + ".") for a in ABOVE), \
                    f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_the_walk_catches_relative_and_lazy_imports(tmp_path, monkeypatch):
    package = tmp_path / "shared"
    (package / "genome").mkdir(parents=True)
    module = package / "genome" / "x.py"
    module.write_text("def f():\n    from ..evolver import runs\n    import neatai.app.cli\n"
                      "from . import operators\n")
    monkeypatch.setattr(f"{__name__}.SHARED", package)
    names = [n for _, n in imported_modules(module)]
    assert "neatai.evolver.runs" in names and "neatai.app.cli" in names
    assert "neatai.genome.operators" in names


def test_cost_names_are_the_protos_and_the_kernels_know_each():
    from neatai.costs import COST_NAMES, cost_name, cost_number
    from neatai.evaluator import forward
    from neatai.v1 import evaluator_pb2

    assert COST_NAMES == tuple(n.removeprefix("COST_FUNCTION_") for n in evaluator_pb2.CostFunction.keys()[1:])
    assert forward.COSTS is COST_NAMES  # the kernels' cost ids are the CostFunction numbers - 1
    assert [forward.kernel_cost(n) for n in COST_NAMES] == list(range(len(COST_NAMES)))
    assert all(cost_name(cost_number(n)) == n for n in COST_NAMES)
    assert cost_name(0) == "MSE" and cost_name(99) is None


def test_neuron_and_synapse_types_are_the_protos():
    from neatai.creature import NEURON_TYPES, PB_NEURON_TYPE, PB_SYNAPSE_TYPE, SYNAPSE_TYPES
    from neatai.v1 import creature_pb2

    assert PB_NEURON_TYPE == {"hidden": 1, "output": 2, "constant": 3}
    assert PB_SYNAPSE_TYPE == {None: 0, "positive": 1, "negative": 2, "condition": 3}
    assert NEURON_TYPES == ("hidden", "output", "constant")
    assert SYNAPSE_TYPES == ("positive", "negative", "condition")
    for name, number in PB_NEURON_TYPE.items():
        assert creature_pb2.NeuronType.Name(number) == f"NEURON_TYPE_{name.upper()}"
    for name, number in PB_SYNAPSE_TYPE.items():
        if name:
            assert creature_pb2.SynapseType.Name(number) == f"SYNAPSE_TYPE_{name.upper()}"
