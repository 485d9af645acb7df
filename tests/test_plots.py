"""Run pictures: the error curve and the network drawing are PNG files with content."""

import pytest

from neatai.creature import Creature
from neatai.app.plots import draw_network, plot_progress

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_progress_plot_is_a_png(tmp_path):
    history = [{"generation": g, "best_error": 0.25 / (g + 1), "mean_error": 0.3 / (g + 1)} for g in range(30)]
    path = plot_progress(history, tmp_path / "sub" / "progress.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_progress_plot_accepts_zero_and_non_finite_errors_and_a_target(tmp_path):
    history = [{"generation": 0, "best_error": 0.0, "mean_error": float("nan")},
               {"generation": 1, "best_error": 0.0, "mean_error": float("inf")}]
    assert plot_progress(history, tmp_path / "p.png").read_bytes().startswith(PNG_MAGIC)
    assert plot_progress(history[:1], tmp_path / "t.png", target_error=0.025).read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("name", ["XOR.json", "NARX.json", "crispr-network.json"])
def test_network_drawing_is_a_png(tmp_path, name, fixtures_dir):
    creature = Creature.from_json((fixtures_dir / name).read_text())
    data = draw_network(creature, tmp_path / "network.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_network_drawing_handles_self_and_back_synapses(tmp_path):
    creature = Creature.from_json({
        "input": 1, "output": 1,
        "neurons": [
            {"uuid": "h", "type": "hidden", "squash": "TANH", "bias": 0.1},
            {"uuid": "output-0", "type": "output", "squash": "IDENTITY", "bias": 0},
        ],
        "synapses": [
            {"fromUUID": "input-0", "toUUID": "h", "weight": 0.5},
            {"fromUUID": "h", "toUUID": "h", "weight": -0.3},
            {"fromUUID": "h", "toUUID": "output-0", "weight": 1.2},
            {"fromUUID": "output-0", "toUUID": "h", "weight": -2.0},
        ],
    })
    assert creature.recurrent
    assert draw_network(creature, tmp_path / "n.png").read_bytes().startswith(PNG_MAGIC)
