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


def png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_picture_has_an_svg_beside_it_and_names_its_columns(tmp_path, fixtures_dir):
    creature = Creature.from_json((fixtures_dir / "XOR.json").read_text())
    png = draw_network(creature, tmp_path / "network.png", input_names=["first_bit", "second_bit"],
                       output_names=["xor"])
    svg = (tmp_path / "network.svg").read_text()
    assert png.read_bytes().startswith(PNG_MAGIC) and svg.lstrip().startswith("<?xml")
    assert "first_bit" in svg and "second_bit" in svg and "xor" in svg  # text kept as text in the SVG
    plot_progress([{"generation": 1, "best_error": 0.3, "mean_error": 0.4}], tmp_path / "progress.png")
    assert (tmp_path / "progress.svg").exists()


def test_one_input_networks_are_not_clipped(tmp_path):
    creature = Creature.from_json({"input": 1, "output": 1, "neurons": [
        {"uuid": "output-0", "type": "output", "squash": "IDENTITY", "bias": 0}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0}]})
    width, height = png_size(draw_network(creature, tmp_path / "n.png").read_bytes())
    assert height >= 300 and width >= 300  # room for both neurons, their labels and the legend


def test_log_scale_only_where_errors_span_decades():
    from neatai.app.plots import log_scale

    assert log_scale([0.5, 0.01]) and not log_scale([0.5, 0.2]) and not log_scale([0.5, 0.0])
    assert log_scale([3000.0, 50.0, float("nan")])


def test_the_bar_follows_the_stopping_rule():
    from neatai.app.progress import bar_position, bar_total

    assert bar_total(40, None) == 40 and bar_position(10, 99.0, 40, None) == 10  # generations
    assert bar_total(1000, 30.0) == 30.0 and bar_position(5, 15.0, 1000, 30.0) == 15.0  # the time budget
    assert bar_position(20, 3.0, 40, 30.0) == 15.0  # half the generations gone before half the time
