"""`python -m bench` (`make bench`): run the benchmarks one after another, each as its own script.

    python -m bench [--full] [NAME ...] [-- SCRIPT-ARGS ...]

NAME picks benchmarks by the part of the file name after `bench_` (e.g. `kernels xor`); none
runs them all. By default each runs in its quick form (`--quick` where the script has it, small
counts otherwise), a few minutes in all; `--full` runs the scripts' defaults, the settings
bench/RESULTS.md reports (hours, not minutes). Arguments after `--` go to every script chosen,
after the quick ones. `make bench ARGS="kernels population"` passes ARGS through.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The quick form of every benchmark: its own --quick, or small counts.
QUICK: dict[str, list[str]] = {
    "kernels": ["--quick"],
    "gradients": ["--quick"],
    "population": ["--quick"],
    "evaluator_rpc": ["--quick"],
    "grpc_interceptors": ["--calls", "200", "--rounds", "1"],
    "generation": ["--sizes", "500", "--generations", "3"],
    "xor": ["--seeds", "3"],
    "evolver_service": ["--seeds", "2"],
    "neat_loop": ["--quick"],
    "classification": ["--budget", "5"],
    "real_data": ["--budget", "5", "--datasets", "iris,diabetes"],
    "memetic": ["--budget", "5", "--datasets", "wine"],
    "discovery": ["--quick"],
    "discovery_service": ["--budget", "8", "--runs", "10"],
    "predictive_coding": ["--quick"],
    "service": ["--quick"],
    "reliability": ["--quick"],
}


def available() -> list[str]:
    """Every bench_*.py here, in the order QUICK lists them (new files last)."""
    names = [p.stem.removeprefix("bench_") for p in sorted(HERE.glob("bench_*.py"))]
    return sorted(names, key=lambda n: list(QUICK).index(n) if n in QUICK else len(QUICK))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    names = available()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the scripts' default (RESULTS.md) settings")
    p.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(names)} (default: all)")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        p.error(f"no benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    failed = []
    for name in args.names or names:
        command = [sys.executable, str(HERE / f"bench_{name}.py"),
                   *([] if args.full else QUICK.get(name, [])), *extra]
        print(f"\n=== bench_{name}: {' '.join(command[1:])}", flush=True)
        t0 = time.monotonic()
        status = subprocess.call(command)
        print(f"=== bench_{name}: exit {status} after {time.monotonic() - t0:.0f}s", flush=True)
        if status != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
