"""The `neatai` command: `neatai run …` evolves a network through real services;
`neatai serve {evaluator,evolver,discovery} …` runs one service."""
from __future__ import annotations

import importlib
import sys

USAGE = """usage: neatai run [--dataset xor|PATH] [--seed N] [--json] [...]   (neatai run --help)
       neatai serve {evaluator,evolver} [--port P] [--metrics-port M] [...]"""

SERVICES = ("evaluator", "evolver")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in ("run", "serve"):
        # Before any server or channel exists: the gRPC instrumentation patches their constructors.
        from neatai.tracing import init_tracing

        init_tracing(rest[0] if command == "serve" and rest and rest[0] in SERVICES else command)
    if command == "run":
        from .runner import main as run_main

        return run_main(rest)
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
