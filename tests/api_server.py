"""`python -m pipeline serve` in a subprocess on a free loopback port, for the API tests and benchmark.

Ready means: the port accepts connections and /health answers (uvicorn listens only after the app's
start-up, which loads the model). Waiting is bounded by a deadline; the process is stopped by its pid.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import requests

from tests.dashboard_support import ROOT, DashboardServer, free_port

__all__ = ["ApiServer", "free_port"]


class ApiServer(DashboardServer):
    """Shares output() and the pid-based stop with the dashboard's server process."""

    def __init__(self, env: dict[str, str], args: tuple[str, ...] = (), startup_s: float = 120):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **env}
        self.command = [sys.executable, "-m", "pipeline", "serve", "--port", str(self.port), *args]
        self.startup_s = startup_s
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "ApiServer":
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                # Blocks until the listening socket exists or the timeout passes: no fixed sleep.
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                self.process_wait(0.1)
                continue
            if requests.get(self.url + "/health", timeout=30).status_code == 200:
                return self
        self.__exit__(None, None, None)
        raise RuntimeError(f"the server did not answer within {self.startup_s} s:\n{self.output()}")

    def process_wait(self, seconds: float) -> None:
        """Wait for the process to exit, at most `seconds` (a refused connection returns at once)."""
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            pass
