"""The `neatai` command as a user runs it, for the integration tests: a subprocess with no
tracing exporter, unbuffered so that a test can read its lines as they come."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _env() -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return env


def neatai(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neatai.app.cli", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def start_neatai(*args: str, cwd: Path) -> subprocess.Popen:
    """`neatai …` left running (stdout and stderr piped, text)."""
    return subprocess.Popen([sys.executable, "-m", "neatai.app.cli", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_clear_line(proc, status: int | None = None) -> str:
    """A refusal: non-zero exit (or `status`) and exactly one stderr line, no traceback."""
    assert proc.returncode != 0 if status is None else proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()
