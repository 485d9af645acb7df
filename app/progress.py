"""Live progress of a run on stderr: a rich bar on a terminal, else one log line every few
seconds, so a run in CI or under nohup is not silent. The bar's length follows the stopping
rule: the time budget when there is one, else the generation limit."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator

LOG_INTERVAL_S = 5.0


def _figures(r) -> dict:
    rate = r.evaluations / r.wall_seconds if r.wall_seconds > 0 else 0.0
    held = f"{r.validation_error:.4g}" if r.HasField("validation_error") else "-"
    return {"best": f"{r.best_error:.4g}", "held": held, "species": r.species, "rate": rate}


def progress(stream: Iterable, generations: int | None, timeout: float | None, interval_s: float = LOG_INTERVAL_S,
             console=None) -> Iterator:
    """Pass WatchRun messages through while showing them."""
    from rich.console import Console

    console = console or Console(stderr=True)
    if console.is_terminal:
        yield from _bar(stream, console, generations, timeout)
    else:
        yield from _log_lines(stream, interval_s)


def _bar(stream, console, generations: int, timeout: float | None):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("generation {task.fields[generation]:>5}"), BarColumn(bar_width=16),
               TextColumn("best error {task.fields[best]:<9}"), TextColumn("validation {task.fields[held]:<9}"),
               TextColumn("species {task.fields[species]:>2}"),
               TextColumn("{task.fields[rate]:>6.0f} evaluations/s"), TimeElapsedColumn()]
    started = time.monotonic()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("run", total=bar_total(generations, timeout), generation=0, best="-", held="-",
                            species=0, rate=0.0)
        for message in stream:
            r = message.report
            bar.update(task, completed=bar_position(r.generation, time.monotonic() - started, generations, timeout),
                       generation=r.generation, **_figures(r))
            yield message


def bar_total(generations: int, timeout: float | None) -> float:
    return timeout if timeout is not None else generations


def bar_position(generation: int, elapsed: float, generations: int, timeout: float | None) -> float:
    """How far along the stopping rule is: by time with a budget (or by generations, when those
    run out first), else by generations."""
    if timeout is None:
        return generation
    return min(timeout, max(elapsed, timeout * generation / generations if generations else 0.0))


def _log_lines(stream, interval_s: float):
    last = None
    r = None
    for message in stream:
        r = message.report
        now = time.monotonic()
        if last is None or now - last >= interval_s:
            _line(r)
            last = now
        yield message
    if r is not None and last is not None:
        _line(r)  # the last generation, whatever the interval


def _line(r) -> None:
    f = _figures(r)
    print(f"generation {r.generation}: best error {f['best']}, validation error {f['held']}, "
          f"species {f['species']}, {f['rate']:.0f} evaluations/s", file=sys.stderr, flush=True)
