"""The `neatai` command: `neatai run …` evolves a network through real services, `predict`
runs the result on new data, `runs` and `watch` look at a served evolver, and
`neatai serve {evaluator,evolver,discovery} …` runs one service."""
from __future__ import annotations

import importlib
import signal
import sys

USAGE = """usage: neatai run [--dataset xor|PATH] [--config run.toml] [--seed N] [--json] [...]   (neatai run --help)
       neatai run --resume DIR
       neatai predict best.json DATA [--out FILE]
       neatai runs [--evolver HOST:PORT]
       neatai watch RUN_ID [--evolver HOST:PORT]
       neatai serve {evaluator,evolver,discovery} [--port P] [--metrics-port M] [...]
       neatai --version"""

SERVICES = ("evaluator", "evolver", "discovery")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("neatai")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command != "serve":
        # SIGTERM (timeout, a container stop, CI cancellation) ends a command as Ctrl-C does:
        # what a run has found is written, not lost. Servers drain on it themselves.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    if command in ("-V", "--version"):
        print(f"neatai {version()}")
        return 0
    if command in ("run", "serve"):
        # Before any server or channel exists: the gRPC instrumentation patches their constructors.
        from neatai.tracing import init_tracing

        init_tracing(rest[0] if command == "serve" and rest and rest[0] in SERVICES else command)
    if command == "run":
        from .runner import main as run_main

        return run_main(rest)
    if command == "predict":
        from .predict import main as predict_main

        return predict_main(rest)
    if command in ("runs", "watch"):
        from . import remote

        return remote.runs_main(rest) if command == "runs" else remote.watch_main(rest)
    if command == "serve":
        if not rest or rest[0] not in SERVICES:
            print(f"neatai serve: name a service: {', '.join(SERVICES)}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"neatai.{rest[0]}.server")
        return module.main(rest[1:])
    print(f"neatai: unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
