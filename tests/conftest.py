"""Shared test fixtures: the real NEAT-AI creature files kept in tests/fixtures/neat-ai (see NOTICE there)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "neat-ai"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"NEAT-AI fixtures not found at {FIXTURES}"
    return FIXTURES
