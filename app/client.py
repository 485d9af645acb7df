"""What every command that talks to an evolver shares: the channel, following a run's
generation reports across broken streams, and how runs and failed calls read on one line."""
from __future__ import annotations

import signal
import threading
import time

RPC_TIMEOUT = 60.0
MAX_MESSAGE = 64 << 20  # best creatures and datasets of real runs outgrow gRPC's 4 MiB default


def connect(address: str):
    """(channel, EvolverService stub) for `address`."""
    from neatai.grpc_metrics import instrumented_channel
    from neatai.v1 import evolver_pb2_grpc

    channel = instrumented_channel(address, [("grpc.max_receive_message_length", MAX_MESSAGE),
                                             ("grpc.max_send_message_length", MAX_MESSAGE)])
    return channel, evolver_pb2_grpc.EvolverServiceStub(channel)


class Watch:
    """WatchRun's messages, resumed from the next generation when the stream breaks: servers age
    connections out (max_connection_age) and a restarted evolver resumes the run, so a long run
    outlives streams. `cancel()` (from any thread) ends the iteration quietly."""

    def __init__(self, stub, run_id: str, from_generation: int = 0, retries: int = 5):
        self.stub, self.run_id, self.next_generation, self.retries = stub, run_id, from_generation, retries
        self._call = None
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()
        if self._call is not None:
            self._call.cancel()

    def __iter__(self):
        import grpc

        from neatai.v1 import evolver_pb2 as S

        failures = 0
        while not self._cancelled.is_set():
            try:
                self._call = self.stub.WatchRun(S.WatchRunRequest(run_id=self.run_id,
                                                                  from_generation=self.next_generation))
                if self._cancelled.is_set():  # cancelled while the call was being made
                    self._call.cancel()
                for message in self._call:
                    failures = 0
                    self.next_generation = message.report.generation + 1
                    yield message
                return
            except grpc.RpcError as e:
                if self._cancelled.is_set():
                    return
                if e.code() != grpc.StatusCode.UNAVAILABLE or failures >= self.retries:
                    raise
                failures += 1
                time.sleep(0.1 * 2 ** (failures - 1))


class Interrupt:
    """While active, Ctrl-C runs `action` on a thread instead of raising KeyboardInterrupt: raised
    inside a blocking gRPC call, KeyboardInterrupt can leave the call's lock held, and closing the
    channel then hangs for ever. `action` ends what the main thread waits on (the run, the
    stream); leaving the block waits for it. A second Ctrl-C changes nothing."""

    def __init__(self, action):
        self.action, self.fired, self._thread, self._previous = action, False, None, None

    def _handle(self, signum, frame) -> None:
        if not self.fired:
            self.fired = True
            self._thread = threading.Thread(target=self.action, name="interrupt", daemon=True)
            self._thread.start()

    def __enter__(self) -> Interrupt:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._thread.join()
        signal.signal(signal.SIGINT, self._previous)


def state_name(state: int) -> str:
    from neatai.v1 import evolver_pb2 as S

    return S.RunState.Name(state).removeprefix("RUN_STATE_").lower()


def describe_run(run) -> str:
    """`run-…: solved at generation 12, best error 0.0213` (or `running, no generation yet`)."""
    if not run.HasField("latest") or run.latest.generation == 0:
        return f"{run.run_id}: {state_name(run.state)}, no generation yet"
    return (f"{run.run_id}: {state_name(run.state)} at generation {run.latest.generation}, "
            f"best error {run.latest.best_error:.6g}")


def rpc_failure(e, address: str) -> str:
    """A failed call as one line; an unreachable evolver says so in words."""
    import grpc

    from neatai.errors import field_violations

    if e.code() == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach an evolver at {address} (UNAVAILABLE: {e.details()})"
    violations = "; ".join(f"{f}: {d}" for f, d in field_violations(e))
    return f"{address}: {e.code().name}: {violations or e.details()}"
