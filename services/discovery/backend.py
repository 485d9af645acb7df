"""Where the analysis runs: `xp` = CuPy on a GPU, NumPy otherwise (reference/discovery.md §4).

`NEATAI_DISCOVERY_DEVICE` chooses: `auto` (default: the GPU when CuPy and a device work),
`cpu`, or `gpu` (asks for the GPU; a missing or broken one still falls back to NumPy with a
warning, never a crash). The probe runs once per process.

Small analyses stay on NumPy even with a GPU: every kernel here is a few reductions over
(sources × samples), and below ~`NEATAI_DISCOVERY_GPU_MIN_CELLS` (neurons × observations,
default 2,000,000 ≈ 20 neurons × 100 k samples or 450 × 4.4 k) the host→device copy of the
recording and the per-launch cost (~10 µs × a few hundred launches per target) exceed the
arithmetic saved. NEAT-AI's own GPU path has the same kind of cut-over
(GPU_REDUCTION_THRESHOLD = 10,000 samples). The default is that rationale, not a measurement
made here (no GPU on the development machine); set the variable to what `bench_discovery`
measures on the deployment's GPU.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from types import ModuleType

import numpy

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "gpu")
DEFAULT_GPU_MIN_CELLS = 2_000_000
_probe: tuple[ModuleType | None, str] | None = None


@dataclass(frozen=True)
class Backend:
    xp: ModuleType
    name: str      # "numpy" or "cupy"
    reason: str    # why this one (reported in stats)

    def asnumpy(self, a):
        return a if self.xp is numpy else self.xp.asnumpy(a)


NUMPY = None  # set below


def _probe_cupy() -> tuple[ModuleType | None, str]:
    global _probe
    if _probe is None:
        try:
            import cupy  # noqa: PLC0415 - optional extra (pip install neatai[gpu])
            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError("no CUDA device")
            float((cupy.arange(4, dtype=cupy.float32) ** 2).sum())  # a kernel really runs
            _probe = (cupy, f"CuPy {cupy.__version__} on device 0")
        except Exception as e:  # noqa: BLE001 - any failure means: no usable GPU
            _probe = (None, f"no usable GPU ({type(e).__name__}: {e})")
    return _probe


def device_setting() -> str:
    value = os.environ.get("NEATAI_DISCOVERY_DEVICE", "auto").strip().lower() or "auto"
    if value not in DEVICES:
        log.warning("NEATAI_DISCOVERY_DEVICE=%r is not one of %s; using auto", value, "|".join(DEVICES))
        return "auto"
    return value


def gpu_min_cells() -> int:
    try:
        return int(os.environ.get("NEATAI_DISCOVERY_GPU_MIN_CELLS", DEFAULT_GPU_MIN_CELLS))
    except ValueError:
        log.warning("NEATAI_DISCOVERY_GPU_MIN_CELLS is not an integer; using %d", DEFAULT_GPU_MIN_CELLS)
        return DEFAULT_GPU_MIN_CELLS


def select_backend(cells: int | None = None, device: str | None = None) -> Backend:
    """The backend for an analysis of `cells` = neurons × observations (None: size unknown)."""
    device = device or device_setting()
    if device == "cpu":
        return NUMPY
    cupy, why = _probe_cupy()
    if cupy is None:
        level = logging.WARNING if device == "gpu" else logging.INFO
        log.log(level, "discovery analysis on NumPy: %s", why)
        return Backend(numpy, "numpy", why)
    if device == "auto" and cells is not None and cells < gpu_min_cells():
        return Backend(numpy, "numpy", f"{cells} cells < NEATAI_DISCOVERY_GPU_MIN_CELLS={gpu_min_cells()}")
    return Backend(cupy, "cupy", why)


NUMPY = Backend(numpy, "numpy", "NEATAI_DISCOVERY_DEVICE=cpu")


def describe() -> dict:
    """What a service reports in its stats and metrics: the setting, the backend a large
    analysis gets and why, and the cut-over below which analyses stay on NumPy."""
    large = select_backend(None)
    return {"device_setting": device_setting(), "backend": large.name, "reason": large.reason,
            "gpu_min_cells": gpu_min_cells()}
