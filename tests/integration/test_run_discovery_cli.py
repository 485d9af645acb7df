"""`neatai run --discovery`: the in-process run starts a discovery service beside the evaluator
and the evolver, discoveries run during the run, and the summary counts them."""
from __future__ import annotations

import json
from pathlib import Path

from commands import neatai

IRIS = Path(__file__).resolve().parents[2] / "examples" / "iris.csv"


def test_run_with_discovery_discovers_and_reports(tmp_path):
    proc = neatai("run", "--dataset", str(IRIS), "--seed", "1", "--timeout", "8", "--discovery", "--json",
                  "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["discoveries"] >= 1 and 0 <= summary["discoveries_improved"] <= summary["discoveries"]
    assert (tmp_path / "out" / "discovery" / "diagnostics.json").exists()
    assert list((tmp_path / "out" / "discovery").glob("*/*/*.json"))  # success or failure entries


def test_a_run_without_discovery_reports_none(tmp_path):
    proc = neatai("run", "--seed", "1", "--generations", "3", "--json", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "discoveries" not in json.loads(proc.stdout.strip().splitlines()[-1])
    assert not (tmp_path / "out" / "discovery").exists()
