"""The README's Python example runs as written, from the repository root, on a fresh clone."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_every_python_example_in_the_readme_runs_from_the_repository_root():
    blocks = python_blocks()
    assert blocks, "the README has no Python example"
    for code in blocks:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"README example failed:\n{code}\n{out.stderr}"
