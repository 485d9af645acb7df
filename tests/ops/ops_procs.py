"""Real service processes for the ops tests: `neatai serve <service>` on 127.0.0.1 with free
ports (or a given one, for a restart in place), read back from the server's own log line."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

LISTENING = re.compile(r"(\w+) listening on port (\d+) \(metrics (\w+)\)")


class Service:
    def __init__(self, name: str, *args: str, env: dict | None = None, timeout: float = 60.0, port: int = 0):
        self.name = name
        self.lines: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "neatai.app.cli", "serve", name, "--host", "127.0.0.1", "--port", str(port),
             "--metrics-port", "0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        threading.Thread(target=self._read, daemon=True).start()
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise TimeoutError(f"{name} did not start:\n" + "".join(self.lines)) from None
            m = LISTENING.search(line)
            if m and m.group(1) == name:
                self.port = int(m.group(2))
                self.metrics_port = None if m.group(3) == "None" else int(m.group(3))
                break
        self.address = f"127.0.0.1:{self.port}"

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            self._lines.put(line)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return "".join(self.lines)
