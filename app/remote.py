"""`neatai runs` and `neatai watch RUN_ID`: the runs of a served evolver, and one run's
generations as they come (the progress display of `neatai run`). Ctrl-C stops the watching,
never the run."""
from __future__ import annotations

import argparse
import json
import sys

from .client import PATIENCE_S, RPC_TIMEOUT, Interrupt, Watch, connect, describe_run, rpc_failure, state_name
from .progress import progress

DEFAULT_EVOLVER = "localhost:50052"  # `neatai serve evolver`'s port


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    from neatai.security import add_security_arguments

    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--evolver", default=DEFAULT_EVOLVER, help=f"HOST:PORT of the evolver (default {DEFAULT_EVOLVER})")
    add_security_arguments(p, server=False)
    return p


def _security(p: argparse.ArgumentParser, args: argparse.Namespace):
    from neatai.security import SecurityError, client_security

    try:
        return client_security(args)
    except SecurityError as e:
        p.error(str(e))


def runs_main(argv: list[str]) -> int:
    p = _parser("neatai runs", "List the runs of an evolver: id, state, generation, best error.")
    p.add_argument("--json", action="store_true", help="one JSON object per run, one per line")
    args = p.parse_args(argv)
    security = _security(p, args)
    import grpc

    from neatai.v1 import evolver_pb2 as S

    channel, stub = connect(args.evolver, security)
    try:
        runs = stub.ListRuns(S.ListRunsRequest(), timeout=RPC_TIMEOUT).runs
    except grpc.RpcError as e:
        print(f"neatai runs: {rpc_failure(e, args.evolver)}", file=sys.stderr)
        return 1
    finally:
        channel.close()
    rows = [{"run_id": r.run_id, "state": state_name(r.state), "generation": r.latest.generation,
             "best_error": r.latest.best_error if r.latest.generation else None} for r in runs]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    elif not rows:
        print(f"no runs on {args.evolver}")
    else:
        width = max(len("RUN"), *(len(r["run_id"]) for r in rows))
        print(f"{'RUN':<{width}}  {'STATE':<9}  {'GENERATION':>10}  BEST ERROR")
        for r in rows:
            error = "-" if r["best_error"] is None else f"{r['best_error']:.6g}"
            print(f"{r['run_id']:<{width}}  {r['state']:<9}  {r['generation']:>10}  {error}")
    return 0


def watch_main(argv: list[str]) -> int:
    p = _parser("neatai watch", "Follow a run's generations until it ends (Ctrl-C stops watching, not the run).")
    p.add_argument("run_id")
    p.add_argument("--patience", type=float, default=PATIENCE_S,
                   help=f"seconds to keep re-attaching to an evolver that went away (default {PATIENCE_S:g})")
    args = p.parse_args(argv)
    security = _security(p, args)
    import grpc

    from neatai.v1 import evolver_pb2 as S

    channel, stub = connect(args.evolver, security)
    try:
        try:
            run = stub.GetRun(S.GetRunRequest(run_id=args.run_id), timeout=RPC_TIMEOUT).run
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                print(f"neatai watch: no run {args.run_id!r} on {args.evolver} (neatai runs lists them)",
                      file=sys.stderr)
                return 2
            print(f"neatai watch: {rpc_failure(e, args.evolver)}", file=sys.stderr)
            return 1
        config = run.config
        generations = config.iterations if config.HasField("iterations") else None
        timeout = config.timeout_seconds if config.HasField("timeout_seconds") else None
        # What the run does now, then what comes.
        stream = Watch(stub, args.run_id, run.latest.generation, patience_s=args.patience, prefix="neatai watch")
        try:
            with Interrupt(stream.cancel) as interrupt:
                for _ in progress(stream, generations, timeout):
                    pass
            if interrupt.fired:
                print(f"neatai watch: stopped watching; run {args.run_id} goes on at {args.evolver}", file=sys.stderr)
                return interrupt.status
            run = stream.get_run()
        except (grpc.RpcError, TimeoutError) as e:
            print(f"neatai watch: {rpc_failure(e, args.evolver)}", file=sys.stderr)
            return 1
    finally:
        channel.close()
    print(describe_run(run) + (f" ({run.message})" if run.message else ""))
    return 0 if run.state in (S.RUN_STATE_SOLVED, S.RUN_STATE_EXHAUSTED) else 1
