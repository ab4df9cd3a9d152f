"""Helpers for the Ray job tests: free ports, a two-node Ray cluster on loopback, a moto S3 server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_env() -> dict:
    """Environment for `ray start` and drivers: auth off on every side, our code importable,
    no inherited address or loopback-only switch (a worker node could not join with it)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    env.update(RAY_AUTH_MODE="disabled", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
               RAY_USAGE_STATS_ENABLED="0")
    return env


def _node_args(worker_ports: tuple[int, int]) -> list[str]:
    return ["--node-ip-address=127.0.0.1", "--num-cpus=2", "--disable-usage-stats",
            f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
            f"--min-worker-port={worker_ports[0]}", f"--max-worker-port={worker_ports[1]}",
            f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
            "--object-store-memory=200000000", "--block"]


def _alive_nodes(address: str, env: dict) -> int:
    probe = ("import ray; ray.init(address=%r, log_to_driver=False); "
             "print(sum(1 for n in ray.nodes() if n['Alive']))" % address)
    env = {**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0


@contextmanager
def two_node_cluster():
    """`ray start --head` and a second `ray start --address=...`, both on 127.0.0.1 with their own
    ports and temp dir; yields the address; stops both by PID (never the machine-wide stop command)."""
    env = cluster_env()
    port = free_port()
    base = 30000 + (os.getpid() % 200) * 100  # worker port ranges apart from other Rays here
    temp_dir = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Unix socket paths are limited
    logs = open(Path(temp_dir) / "cluster.log", "w")
    head = subprocess.Popen([RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp_dir}",
                             "--include-dashboard=false", *_node_args((base, base + 49))],
                            env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True)
    procs = [head]
    address = f"127.0.0.1:{port}"
    try:
        time.sleep(3)
        worker = subprocess.Popen([RAY, "start", f"--address={address}", *_node_args((base + 50, base + 99))],
                                  env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(worker)
        deadline = time.time() + 90
        while _alive_nodes(address, env) < 2:
            if time.time() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("the two-node cluster did not come up: " + open(logs.name).read()[-2000:])
            time.sleep(2)
        yield address
    finally:
        for proc in reversed(procs):  # each `ray start --block` leads its own process group
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        logs.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextmanager
def moto_s3(monkeypatch):
    """moto's S3 in server mode on loopback; AWS_* variables point the code at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", endpoint)):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    try:
        yield endpoint
    finally:
        server.stop()
