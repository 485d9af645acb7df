"""What every command that talks to an evolver shares: the channel, following a run's
generation reports across broken streams and evolver restarts, and how runs and failed calls
read on one line."""
from __future__ import annotations

import random
import signal
import sys
import threading
import time

RPC_TIMEOUT = 60.0
MAX_MESSAGE = 64 << 20  # best creatures and datasets of real runs outgrow gRPC's 4 MiB default
# How long a command keeps re-attaching to an evolver it lost (restart, drain, network) before
# it gives up: an evolver restart with its checkpoints takes seconds, a rescheduled pod minutes.
PATIENCE_S = 300.0


def _transient() -> frozenset:
    import grpc

    # What a restarting, draining or briefly unreachable evolver answers.
    return frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED,
                      grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED})


class Backoff:
    """Exponential backoff with jitter until `patience_s` after the first failure; `wait()`
    returns False once that is spent (or `cancelled` is set)."""

    def __init__(self, patience_s: float, cancelled: threading.Event | None = None, first_s: float = 0.2,
                 max_s: float = 5.0):
        self.patience_s, self.first_s, self.max_s = patience_s, first_s, max_s
        self.cancelled = cancelled or threading.Event()
        self.since: float | None = None
        self.attempts = 0

    def reset(self) -> None:
        self.since, self.attempts = None, 0

    def left(self) -> float:
        return self.patience_s if self.since is None else self.patience_s - (time.monotonic() - self.since)

    def wait(self) -> bool:
        self.since = time.monotonic() if self.since is None else self.since
        self.attempts += 1
        delay = min(self.max_s, self.first_s * 2 ** (self.attempts - 1)) * random.uniform(0.5, 1.0)
        if self.left() <= 0:
            return False
        return not self.cancelled.wait(min(delay, self.left())) and not self.cancelled.is_set()


def with_patience(call, patience_s: float = PATIENCE_S, cancelled: threading.Event | None = None):
    """`call()`, retried on transient statuses with backoff for up to `patience_s`; the last
    error is raised when that is spent."""
    import grpc

    backoff = Backoff(patience_s, cancelled)
    while True:
        try:
            return call()
        except grpc.RpcError as e:
            if e.code() not in _transient() or not backoff.wait():
                raise


def connect(address: str, security=None):
    """(channel, EvolverService stub) for `address`; TLS and a token as `security`
    (a neatai.security.ClientSecurity) says."""
    from neatai.grpc_metrics import instrumented_channel
    from neatai.security import INSECURE
    from neatai.v1 import evolver_pb2_grpc

    security = security or INSECURE
    options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
               # Re-attach soon after a restarted evolver answers, not after gRPC's 120 s backoff cap.
               ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 5000)]
    channel = instrumented_channel(address, options + security.options(), security.credentials())
    return channel, evolver_pb2_grpc.EvolverServiceStub(channel)


class Watch:
    """A run's generation reports from WatchRun, across broken streams: servers age connections
    out (max_connection_age), a draining evolver ends its streams and a restarted one resumes the
    run, so the stream is opened again from the next generation, with backoff, for up to
    `patience_s` without an answer (one line on stderr when the evolver is lost, one when it is
    back). Reports of a change of state (a pause: generation not past the last one) are not
    yielded; they, and evaluators the evolver could not reach, are told as one line each.
    `cancel()` (from any thread) ends the iteration quietly; `drain()` lets the current stream
    end without re-attaching (the in-process evolver is being paused)."""

    def __init__(self, stub, run_id: str, from_generation: int = 0, patience_s: float = PATIENCE_S,
                 prefix: str = "neatai"):
        self.stub, self.run_id, self.next_generation = stub, run_id, from_generation
        self.patience_s, self.prefix = patience_s, prefix
        self._call = None
        self._cancelled = threading.Event()
        self._draining = False
        self._paused = ""
        self._unreachable: set[str] = set()

    def cancel(self) -> None:
        self._cancelled.set()
        if self._call is not None:
            self._call.cancel()

    def drain(self) -> None:
        self._draining = True

    def say(self, line: str) -> None:
        print(f"{self.prefix}: {line}", file=sys.stderr, flush=True)

    def get_run(self):
        """GetRun of the watched run, with the same patience."""
        from neatai.v1 import evolver_pb2 as S

        return with_patience(lambda: self.stub.GetRun(S.GetRunRequest(run_id=self.run_id), timeout=RPC_TIMEOUT).run,
                             self.patience_s, self._cancelled)

    def __iter__(self):
        import grpc

        from neatai.v1 import evolver_pb2 as S

        backoff = Backoff(self.patience_s, self._cancelled)
        lost = None  # why the evolver was lost, while it is
        while not self._cancelled.is_set():
            try:
                self._call = self.stub.WatchRun(S.WatchRunRequest(run_id=self.run_id,
                                                                  from_generation=self.next_generation))
                if self._cancelled.is_set():  # cancelled while the call was being made
                    self._call.cancel()
                for message in self._call:
                    if lost is not None:
                        self.say(f"re-attached to run {self.run_id}")
                        lost = None
                    backoff.reset()
                    if self._tell(message.report):
                        self.next_generation = message.report.generation + 1
                        yield message
                if self._cancelled.is_set() or self._draining:
                    return
                # The stream ended: the run did, or the evolver is draining (it resumes the run on restart).
                if self.get_run().state not in (S.RUN_STATE_RUNNING, S.RUN_STATE_PAUSED):
                    return
                reason = "the evolver ended the stream (shutting down)"
                error = None
            except grpc.RpcError as e:
                if self._cancelled.is_set():
                    return
                if e.code() not in _transient():
                    raise
                reason, error = f"{e.code().name}: {e.details()}", e
            if lost is None:
                self.say(f"lost the evolver ({reason}); re-attaching to run {self.run_id} "
                         f"for up to {backoff.left():.0f}s")
                lost = reason
            if not backoff.wait():
                if self._cancelled.is_set():
                    return
                if error is not None:
                    raise error
                raise TimeoutError(f"the evolver did not come back within {self.patience_s:g}s ({reason})")

    def _tell(self, report) -> bool:
        """One line per change of the run's pause and of its unreachable evaluators; True for
        a new generation's report."""
        down = set(report.unreachable_evaluators)
        for endpoint in sorted(down - self._unreachable):
            self.say(f"evaluator {endpoint} (unreachable; its batches go to the others)")
        for endpoint in sorted(self._unreachable - down):
            self.say(f"evaluator {endpoint.split(': ', 1)[0]} answers again")
        self._unreachable = down
        if report.pause_reason != self._paused:
            self.say(f"run {self.run_id} paused: {report.pause_reason}" if report.pause_reason
                     else f"run {self.run_id} continues")
            self._paused = report.pause_reason
        return report.generation >= self.next_generation


class Interrupt:
    """While active, Ctrl-C (SIGINT) and SIGTERM (what `timeout`, a container stop and CI
    cancellation send) run `action` on a thread instead of raising KeyboardInterrupt: raised
    inside a blocking gRPC call, KeyboardInterrupt can leave the call's lock held, and closing the
    channel then hangs for ever. `action` ends what the main thread waits on (the run, the
    stream); leaving the block waits for it. A second signal changes nothing. `status` is the
    shell's exit status for the signal (130, 143)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, action):
        self.action, self.fired, self.signum, self._thread, self._previous = action, False, None, None, {}

    @property
    def status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def _handle(self, signum, frame) -> None:
        if not self.fired:
            self.fired, self.signum = True, signum
            self._thread = threading.Thread(target=self.action, name="interrupt", daemon=True)
            self._thread.start()

    def __enter__(self) -> Interrupt:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._thread.join()
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


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

    if isinstance(e, TimeoutError):  # Watch gave up re-attaching
        return f"lost the evolver at {address}: {e}"
    if e.code() == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach an evolver at {address} (UNAVAILABLE: {e.details()})"
    if e.code() == grpc.StatusCode.UNAUTHENTICATED:
        return f"{address} refused the call (UNAUTHENTICATED: {e.details()})"
    violations = "; ".join(f"{f}: {d}" for f, d in field_violations(e))
    return f"{address}: {e.code().name}: {violations or e.details()}"
