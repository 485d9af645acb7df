"""The analysis backend (NEATAI_DISCOVERY_DEVICE), the simulated squashes against the
evaluator's kernels, and the scoring formulas' documented values (reference/discovery.md §2.3,
§2.10, §7.3)."""
from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from neatai.discovery import backend, squashes
from neatai.discovery.scoring import calibration_corrections, fnv1a, holdout_offset, validation_mask
from neatai.evaluator.activations import squash as kernel_squash
from neatai.squash import BY_NAME

HAVE_CUPY = importlib.util.find_spec("cupy") is not None


def test_cpu_is_numpy_and_a_missing_gpu_falls_back_with_a_log_line(monkeypatch, caplog):
    monkeypatch.setenv("NEATAI_DISCOVERY_DEVICE", "cpu")
    assert backend.select_backend().name == "numpy"
    if HAVE_CUPY:
        pytest.skip("CuPy is installed here: the fallback path is not reachable")
    monkeypatch.setenv("NEATAI_DISCOVERY_DEVICE", "gpu")
    with caplog.at_level(logging.INFO, logger="neatai.discovery.backend"):
        chosen = backend.select_backend(10 ** 9)
    assert chosen.name == "numpy" and "no usable GPU" in chosen.reason
    assert any("NumPy" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_describe_reports_the_setting_backend_and_cut_over(monkeypatch):
    monkeypatch.setenv("NEATAI_DISCOVERY_DEVICE", "cpu")
    monkeypatch.setenv("NEATAI_DISCOVERY_GPU_MIN_CELLS", "12345")
    assert backend.describe() == {"device_setting": "cpu", "backend": "numpy",
                                  "reason": "NEATAI_DISCOVERY_DEVICE=cpu", "gpu_min_cells": 12345}


def test_an_unknown_device_setting_is_auto_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("NEATAI_DISCOVERY_DEVICE", "tpu")
    with caplog.at_level(logging.WARNING, logger="neatai.discovery.backend"):
        assert backend.device_setting() == "auto"
    assert "tpu" in caplog.text


@pytest.mark.parametrize("name", squashes.SIMULATED)
def test_simulated_squashes_equal_the_kernels(name):
    x = np.concatenate([np.linspace(-12, 12, 4001), [-50, -30, 30, 50]]).astype(np.float32)
    np.testing.assert_allclose(squashes.apply(np, name, x), kernel_squash(BY_NAME[name].id, x),
                               rtol=2e-5, atol=2e-6, err_msg=name)


def test_the_holdout_split_and_calibration_follow_the_reference():
    assert fnv1a(b"") == 0x811C9DC5 and fnv1a(b"a") == 0xE40C292C
    mask = validation_mask(100, holdout_offset("s", "t"))
    assert mask.sum() == 30
    starts = np.flatnonzero(np.diff(np.r_[mask[-1], mask].astype(int)) == 1)
    assert len(starts) <= 1                        # one contiguous (rotated) block
    assert not validation_mask(19, 3).any()        # no hold-out below 20 samples
    cache = [{"changeType": "add-neurons", "expectedErrorReduction": 1.0, "actualErrorReduction": 0.5},
             {"changeType": "add-neurons", "expectedErrorReduction": 2.0, "actualErrorReduction": 0.2},
             {"changeType": "add-synapses", "expectedErrorReduction": 0.0, "actualErrorReduction": 1.0},
             {"changeType": "remove-synapse", "expectedErrorReduction": 1.0, "actualErrorReduction": -3.0}]
    assert calibration_corrections(cache) == pytest.approx({"add-neurons": 0.3 * 0.1 + 0.7 * 0.5,
                                                            "remove-synapse": 0.001})


@pytest.mark.skipif(not HAVE_CUPY, reason="CuPy is not installed here (pip install neatai[gpu] on a GPU machine)")
def test_numpy_and_cupy_agree_to_float32_tolerance(tmp_path, monkeypatch):
    import cupy  # noqa: PLC0415
    if cupy.cuda.runtime.getDeviceCount() < 1:
        pytest.skip("CuPy is installed but no CUDA device is present")
    from neatai.creature import Creature
    from neatai.datasets import Dataset
    from neatai.discovery.analysis import AnalysisOptions, analyse
    from neatai.evaluator.recorder import record
    X = np.random.default_rng(0).uniform(-1, 1, (3000, 3)).astype(np.float32)
    c = Creature.from_json({"input": 3, "output": 1, "neurons": [{"type": "output", "uuid": "o", "squash": "TANH"}],
                            "synapses": [{"fromUUID": "input-0", "toUUID": "o", "weight": 1.0}]})
    ds = Dataset(X, np.tanh(X[:, :1] + X[:, 1:2] * np.abs(X[:, 2:])).astype(np.float32))
    path = record(c, ds, ds.id, tmp_path, 1.0).path
    cpu = analyse(path, c, AnalysisOptions(random_seed=1, device="cpu"))
    monkeypatch.setenv("NEATAI_DISCOVERY_GPU_MIN_CELLS", "0")
    gpu = analyse(path, c, AnalysisOptions(random_seed=1, device="gpu"))
    assert gpu.backend == "cupy"
    # the same suggestions; float32 sums in another order may swap near-ties, so match by pair
    def key(s):
        return s.from_uuid, s.to_uuid, s.comment.split("×")[0] if "variant" in s.comment else "fit"
    cpu_by = {key(s): s for s in cpu.add_synapses}
    gpu_by = {key(s): s for s in gpu.add_synapses}
    assert (gpu.add_synapses[0].from_uuid, gpu.add_synapses[0].to_uuid) == \
        (cpu.add_synapses[0].from_uuid, cpu.add_synapses[0].to_uuid)
    shared = sorted(set(cpu_by) & set(gpu_by))
    assert len(shared) >= 0.9 * len(cpu_by)
    np.testing.assert_allclose([gpu_by[k].weight for k in shared], [cpu_by[k].weight for k in shared], rtol=1e-4)
    np.testing.assert_allclose([gpu_by[k].expected_gain for k in shared], [cpu_by[k].expected_gain for k in shared],
                               rtol=1e-3)
