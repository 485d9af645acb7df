"""Hypothesis profiles for the fuzz tests: `ci` (the default, bounded to seconds in `make test`)
and `fuzz` (`make fuzz`: many more inputs per property, HYPOTHESIS_PROFILE=fuzz). Found failures
are replayed from the example database under tests/fuzz/.hypothesis (not committed); the seed
corpus every property mutates is tests/fuzz/corpus (committed)."""
from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

CORPUS = Path(__file__).resolve().parent / "corpus"

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
