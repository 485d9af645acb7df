"""`neatai predict best.json DATA`: the creature's outputs for every record of DATA (CSV,
Parquet or .npz's X) as CSV on stdout or in `--out FILE`.

`neatai run` tags best.json with its column names (`input-names`, `output-names`, JSON lists)
and `feedback-loop`, so the creature picks its inputs from a table by name (a table may hold
other columns, e.g. the targets) and its outputs are headed by the training targets' names.
An untagged creature (a NEAT-AI file) takes a table's columns in order, exactly as many as it
has inputs, and heads its outputs output-0, output-1, …
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Sequence

INPUT_NAMES, OUTPUT_NAMES, FEEDBACK = "input-names", "output-names", "feedback-loop"


class PredictError(ValueError):
    """Unusable creature or data; the message is one line."""


def label(creature, inputs: Sequence[str], outputs: Sequence[str], feedback: bool) -> None:
    """Tag the creature with what predict needs to use it as it was trained."""
    creature.set_tag(INPUT_NAMES, json.dumps(list(inputs)))
    creature.set_tag(OUTPUT_NAMES, json.dumps(list(outputs)))
    creature.set_tag(FEEDBACK, json.dumps(bool(feedback)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="neatai predict", description="Run a creature (NEAT-AI JSON, e.g. the "
                                "best.json of neatai run) on every record of a data file; CSV out.")
    p.add_argument("creature", help="creature JSON file")
    p.add_argument("data", help=".csv or .parquet (header: the inputs by name, other columns ignored) or .npz (X)")
    p.add_argument("--out", metavar="FILE", help="write the CSV here (default: stdout)")
    p.add_argument("--feedback-loop", action=argparse.BooleanOptionalAction,
                   help="recurrent state across records (default: as the creature was trained)")
    args = p.parse_args(argv)
    try:
        creature = _load(Path(args.creature))
        inputs = _tagged(creature, INPUT_NAMES, args.creature)
        outputs = _tagged(creature, OUTPUT_NAMES, args.creature) or [f"output-{k}" for k in range(creature.output)]
        if len(outputs) != creature.output:
            raise PredictError(f"{args.creature}: {len(outputs)} output names for {creature.output} outputs")
        X = _inputs(creature, inputs, args.data)
        feedback = args.feedback_loop if args.feedback_loop is not None else creature.tag(FEEDBACK) == "true"
        from neatai.evaluator import compile_network

        Y = compile_network(creature).activate(X, feedback)
        _write(args.out, outputs, Y)
    except PredictError as e:
        print(f"neatai predict: {e}", file=sys.stderr)
        return 2
    return 0


def _load(path: Path):
    from neatai.creature import Creature, CreatureError

    try:
        return Creature.from_json(path.read_bytes())
    except FileNotFoundError:
        raise PredictError(f"{path}: no such file") from None
    except OSError as e:
        raise PredictError(f"{path}: {e.strerror or e}") from None
    except CreatureError as e:
        raise PredictError(f"{path}: {e}") from None


def _tagged(creature, name: str, where: str) -> list[str] | None:
    value = creature.tag(name)
    if value is None:
        return None
    try:
        names = json.loads(value)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PredictError(f"{where}: tag {name!r} is not a JSON list of names: {value!r}")
    return names


def _inputs(creature, names: list[str] | None, where: str):
    """The creature's input columns of the data file, in the creature's order."""
    from neatai.datasets import DatasetError, load_columns

    try:
        columns, values = load_columns(where)
    except DatasetError as e:
        raise PredictError(str(e)) from None
    if names and len(names) != creature.input:
        raise PredictError(f"creature: {len(names)} input names for {creature.input} inputs")
    if names and columns:
        missing = [n for n in names if n not in columns]
        if missing:
            raise PredictError(f"{where}: no column {missing[0]!r}; the creature's inputs are {names}, "
                               f"the file's columns {columns}")
        return values[:, [columns.index(n) for n in names]]
    if values.shape[1] != creature.input:
        kind = f"{len(columns)} columns" if columns else f"X has {values.shape[1]} columns"
        raise PredictError(f"{where}: {kind}, the creature takes {creature.input} inputs")
    return values


def _write(out: str | None, names: list[str], Y) -> None:
    try:
        f = open(out, "w", newline="") if out else sys.stdout
    except OSError as e:
        raise PredictError(f"--out {out}: {e.strerror or e}") from None
    try:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        w.writerows([f"{v:.9g}" for v in row] for row in Y.tolist())
    finally:
        if out:
            f.close()
