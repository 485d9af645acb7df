"""A run's options: `--config FILE` (TOML, NEAT-AI's option names as `EvolverConfig` reads them),
overridden by flags. `EvolverConfig` validates the merge, so `neatai run` refuses exactly what
the evolver would, before any data is read; each problem names its flag, or its file and key.
"""
from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from typing import Any

from neatai.evolver.config import ConfigError, EvolverConfig

# Flag (argparse dest) -> the option path it sets.
FLAGS = {
    "population": "populationSize", "generations": "iterations", "target_error": "targetError",
    "timeout": "timeoutSeconds", "seed": "seed", "cost": "costName", "feedback_loop": "feedbackLoop",
    "output_squash": "squashBudget.fixedOutputSquash", "initial_weights": "initialWeights",
    "elitism": "elitism", "mutation_rate": "mutationRate", "mutation_amount": "mutationAmount",
    "compatibility_threshold": "compatibility.CP", "cost_of_growth": "costOfGrowth", "train": "memetic",
    "squashes": "squashBudget.allowedSquashes",
}
# Where neatai run differs from NEAT-AI's defaults: a bounded run, and XOR's solved bar.
DEFAULTS = {"iterations": 1000, "targetError": 0.025}
# NEAT-AI's discoverySampleRate default, what --discovery turns discovery on with.
DISCOVERY_SAMPLE_RATE = 0.2


class OptionsError(ValueError):
    """The file or the flags hold an unusable option; the message is one line."""


@dataclass(frozen=True)
class Options:
    config: EvolverConfig
    given: frozenset[str]  # option paths set by the file or a flag, lower-cased

    def chosen(self, path: str, value: Any) -> Any:
        """`value` when the user set `path`, else None (the dataset's default applies)."""
        return value if path.lower() in self.given else None


def add_flags(p: argparse.ArgumentParser) -> None:
    """The common evolution options, by the names NEAT-AI and neat-python users look for."""
    p.add_argument("--config", metavar="FILE", help="TOML file of RunConfig options by their NEAT-AI names "
                                                    "(populationSize, elitism, [compatibility] CP, ...); "
                                                    "flags override it")
    p.add_argument("--elitism", type=int, help="best creatures copied unchanged into the next generation (default 1)")
    p.add_argument("--mutation-rate", type=float, help="NEAT-AI mutationRate: chance a child mutates (default 0.3)")
    p.add_argument("--mutation-amount", type=int, help="NEAT-AI mutationAmount: mutations per mutated child "
                                                       "(default 1)")
    p.add_argument("--compatibility-threshold", "--species-threshold", type=float, metavar="CP",
                   help="neat-python compatibility_threshold, NEAT-AI compatibility.CP: same species when the "
                        "distance is below it (default max(population/20, 1))")
    p.add_argument("--cost-of-growth", type=float, help="NEAT-AI costOfGrowth: score penalty per neuron and "
                                                        "synapse (default 1e-7)")
    p.add_argument("--squashes", type=_names, metavar="NAME,...",
                   help="squashBudget.allowedSquashes: the squashes neurons may take, e.g. LOGISTIC (NEAT's sigmoid "
                        "only); outputs draw from them too unless --output-squash pins them (default: NEAT-AI's pool)")
    p.add_argument("--train", action=argparse.BooleanOptionalAction,
                   help="memetic evolution: fine-tune a share of every generation by backpropagation on the "
                        "evaluators (NEAT-AI fineTunePopulation; options in the config file's [backpropagation])")
    p.add_argument("--discovery", action="store_true", default=None,  # None: not given (--resume refuses flags)
                   help="error-guided structural evolution: a discovery service (started in process, or the "
                        "deployed evolver's) improves the best creature every discoveryInterval generations and on "
                        "plateaus; sets discoverySampleRate to 0.2 unless the config file sets it")


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def resolve(args: argparse.Namespace) -> Options:
    """The file's options, the flags over them, neatai run's defaults under both; validated."""
    options = _read(args.config) if args.config else {}
    flags = {}
    for dest, path in FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            flags[path] = value
            if path == "timeoutSeconds":
                options.pop("timeoutMinutes", None)
    if getattr(args, "discovery", False) and "discoverySampleRate" not in options:
        flags["discoverySampleRate"] = DISCOVERY_SAMPLE_RATE
    merged = _merge(_merge(_nest(DEFAULTS), options), _nest(flags))
    try:
        config = EvolverConfig.from_dict(merged)
    except ConfigError as e:
        raise OptionsError("; ".join(_where(p.path, flags, args.config) + p.message for p in e.problems)) from None
    return Options(config, frozenset(k.lower() for k in (*_paths(options), *flags)))


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise OptionsError(f"--config {path}: no such file") from None
    except OSError as e:
        raise OptionsError(f"--config {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise OptionsError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise OptionsError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _nest(flat: dict[str, Any]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        head, _, sub = path.partition(".")
        if sub:
            out.setdefault(head, {})[sub] = value
        else:
            out[head] = value
    return out


def _merge(under: dict, over: dict) -> dict:
    """`over` wins; nested tables merge key by key (their keys are case-insensitive, as in
    EvolverConfig.from_dict: a flag's CP replaces the file's cp)."""
    out = dict(under)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            table = {k: v for k, v in out[key].items() if k.lower() not in {s.lower() for s in value}}
            out[key] = {**table, **value}
        else:
            out[key] = value
    return out


def _paths(options: dict) -> list[str]:
    return [f"{k}.{s}" for k, v in options.items() if isinstance(v, dict) for s in v] + [
        k for k, v in options.items() if not isinstance(v, dict)] + (
        ["timeoutSeconds"] if "timeoutMinutes" in options else [])


def _where(path: str, flags: dict, file: str | None) -> str:
    """The flag that set the option a problem is about, else the file's key."""
    for dest, flag_path in FLAGS.items():
        if flag_path in flags and flag_path.lower() == path.lower():
            return f"--{dest.replace('_', '-')}: "
    return f"{file}: {path}: " if file else f"{path}: "
