"""Pictures of a run: the error curve per generation and a drawing of a network.

matplotlib runs headless (Agg); both functions write a PNG and an SVG beside it (same name,
.svg) and return the PNG's path.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from neatai.creature import Creature  # noqa: E402


def plot_progress(history: Iterable[Mapping], path: str | Path, title: str = "",
                  target_error: float | None = None) -> Path:
    """Best and mean error per generation; `history` rows carry generation, best_error, mean_error
    and optionally validation_error. A dashed line marks `target_error` when given."""
    rows = list(history)
    gens = [int(r["generation"]) for r in rows]
    best = [float(r["best_error"]) for r in rows]
    mean = [float(r["mean_error"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(gens, best, label="best error", color="tab:blue", linewidth=1.8)
    ax.plot(gens, mean, label="mean error", color="tab:orange", linewidth=1.2, alpha=0.8)
    held = [(g, float(r["validation_error"])) for g, r in zip(gens, rows) if r.get("validation_error") is not None]
    if held:  # the picked creature's error on the held-out part
        ax.plot([g for g, _ in held], [v for _, v in held], label="validation error (best)", color="tab:purple",
                linewidth=1.4, drawstyle="steps-post")
        best += [v for _, v in held]
    if target_error is not None:
        ax.axhline(target_error, color="tab:green", linestyle="--", linewidth=1, label=f"target {target_error:g}")
    # A log axis shows the late, small improvements when errors span decades (all must be positive).
    if log_scale(best + mean + ([target_error] if target_error is not None else [])):
        ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("error")
    ax.set_title(title or "error per generation")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def log_scale(values: Sequence[float]) -> bool:
    """A log axis when the finite values are all positive and span at least a decade."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= 10


def draw_network(creature: Creature, path: str | Path, title: str = "", input_names: Sequence[str] = (),
                 output_names: Sequence[str] = ()) -> Path:
    """Inputs on the left, outputs on the right, hidden neurons in columns by depth; synapses are
    blue when positive, red when negative, wider the larger the weight; neurons carry squash
    names, inputs and outputs the dataset's column names when given."""
    positions = _layout(creature)
    fig_w = 2.0 + 1.6 * (max(x for x, _ in positions.values()) + 1)
    # At least 3 inches high: one input and one output still leave room for labels and legend.
    fig_h = max(3.0, 1.0 + 0.7 * max(sum(1 for p in positions.values() if p[0] == col)
                                     for col in {x for x, _ in positions.values()}))
    fig, ax = plt.subplots(figsize=(min(fig_w, 30), min(fig_h, 30)), dpi=100)
    biggest = max((abs(s.weight) for s in creature.synapses if math.isfinite(s.weight)), default=1.0) or 1.0
    for s in creature.synapses:
        (x0, y0), (x1, y1) = positions[s.from_uuid], positions[s.to_uuid]
        weight = s.weight if math.isfinite(s.weight) else 0.0
        colour = "tab:blue" if weight >= 0 else "tab:red"
        width = 0.4 + 3.0 * abs(weight) / biggest
        if s.from_uuid == s.to_uuid:  # self loop: a small circle above the neuron
            ax.add_patch(plt.Circle((x0, y0 + 0.18), 0.15, fill=False, color=colour, linewidth=width))
            continue
        style = "arc3,rad=0.25" if x1 <= x0 else "arc3,rad=0.0"  # back synapses curve
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=width, alpha=0.75,
                                    connectionstyle=style, shrinkA=9, shrinkB=9))
    kinds = {f"input-{i}": "input" for i in range(creature.input)}
    kinds.update({n.uuid: n.type for n in creature.neurons})
    labels = {f"input-{i}": input_names[i] if i < len(input_names) else f"in {i}" for i in range(creature.input)}
    outputs = iter(output_names)
    for n in creature.neurons:
        labels[n.uuid] = "const" if n.type == "constant" else n.squash_name
        if n.type == "output":
            name = next(outputs, None)
            labels[n.uuid] = f"{name}\n{n.squash_name}" if name else n.squash_name
    face = {"input": "#d9ead3", "hidden": "#fff2cc", "output": "#cfe2f3", "constant": "#eeeeee"}
    for uuid, (x, y) in positions.items():
        ax.scatter([x], [y], s=520, c=face[kinds[uuid]], edgecolors="black", zorder=3)
        ax.text(x, y - 0.32, labels[uuid], ha="center", va="top", fontsize=7, zorder=4)
    ax.legend(handles=[Line2D([0], [0], color="tab:blue", label="positive weight"),
                       Line2D([0], [0], color="tab:red", label="negative weight")],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax.set_title(title or f"{creature.input} inputs, {creature.hidden_count} hidden, "
                          f"{creature.output} outputs, {len(creature.synapses)} synapses", fontsize=9)
    ax.set_axis_off()
    # Explicit limits: a single row (one input, one output) has no height to add margins to.
    xs, ys = [x for x, _ in positions.values()], [y for _, y in positions.values()]
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.9, max(ys) + 0.5)
    fig.tight_layout()
    return _save(fig, path)


def _layout(creature: Creature) -> dict[str, tuple[float, float]]:
    """Column = depth: inputs 0, each hidden neuron one past its deepest forward source,
    outputs one past the deepest hidden column. Rows are spread evenly per column."""
    index = creature.uuid_index()
    depth = {f"input-{i}": 0 for i in range(creature.input)}
    sources: dict[str, list[str]] = {}
    for s in creature.synapses:
        if index[s.from_uuid] < index[s.to_uuid]:  # back and self synapses do not set depth
            sources.setdefault(s.to_uuid, []).append(s.from_uuid)
    for n in creature.neurons:  # evaluation order: every forward source already has a depth
        if n.type != "output":
            depth[n.uuid] = 1 + max((depth[f] for f in sources.get(n.uuid, ())), default=0)
    last = max(depth.values(), default=0) + 1
    for n in creature.neurons:
        if n.type == "output":
            depth[n.uuid] = last
    columns: dict[int, list[str]] = {}
    for uuid in [f"input-{i}" for i in range(creature.input)] + [n.uuid for n in creature.neurons]:
        columns.setdefault(depth[uuid], []).append(uuid)
    positions = {}
    for col, members in columns.items():
        for row, uuid in enumerate(members):
            positions[uuid] = (float(col), (len(members) - 1) / 2.0 - row)
    return positions


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    fig.savefig(path.with_suffix(".svg"), format="svg")
    plt.close(fig)
    return path
