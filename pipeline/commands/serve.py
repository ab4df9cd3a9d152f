"""`serve`: the HTTP API (FastAPI on uvicorn, or Ray Serve replicas with --ray).

Without API keys the server answers anyone who can reach it, so it only binds to loopback; with keys
(IMAGESEARCH_API_KEYS or --keys-file) it may bind anywhere. Settings: docs/api.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from pipeline.commands.common import UsageError


def register(sub, common) -> None:
    p = sub.add_parser("serve", parents=[common], help="HTTP API: search, upload and manage over HTTP",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need API keys)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--read-only", action="store_true", default=None,
                   help="refuse uploads, deletes and restores (env IMAGESEARCH_READ_ONLY=1)")
    p.add_argument("--keys-file", default=None, help="API keys, one 'KEY SCOPE [name]' a line (env IMAGESEARCH_API_KEYS_FILE)")
    p.add_argument("--ray", action="store_true", help="run as a Ray Serve deployment")
    p.add_argument("--replicas", type=int, default=2, help="Ray Serve replicas (default 2)")
    p.add_argument("--ray-address", default=None, help="Ray cluster to join (default $RAY_ADDRESS, else a local Ray)")
    p.set_defaults(run=run_serve)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    from pipeline.api.keys import load_keys
    from pipeline.api.settings import ApiSettings

    if not 0 < args.port < 65536:
        raise UsageError("--port must be between 1 and 65535")
    if args.replicas < 1:
        raise UsageError("--replicas must be at least 1")
    settings = ApiSettings.from_env(db=args.db, table=args.table, model=args.model, device=args.device,
                                    read_only=args.read_only, keys_file=args.keys_file)
    keys = load_keys(settings.keys, settings.keys_file)
    if not keys and not is_loopback(args.host):
        raise UsageError(f"no API keys configured: refusing to bind {args.host}; set IMAGESEARCH_API_KEYS or "
                         "--keys-file, or bind 127.0.0.1")
    access = f"{len(keys)} API key(s)" if keys else "no API keys: open to this machine only (loopback)"
    mode = ", read-only" if settings.read_only else ""
    print(f"serving {settings.db} table {settings.table} on http://{args.host}:{args.port} ({access}{mode}); "
          f"docs at /docs", file=sys.stderr, flush=True)
    if args.ray:
        return _serve_on_ray(args, settings)
    import uvicorn

    from pipeline.api.app import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=10)
    return 0


def _serve_on_ray(args: argparse.Namespace, settings) -> int:
    import threading

    from pipeline.api.ray_serve import deploy

    deploy(settings, replicas=args.replicas, host=args.host, port=args.port, ray_address=args.ray_address)
    print(f"{args.replicas} Ray Serve replica(s) running; Ctrl-C stops them", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        from ray import serve

        serve.shutdown()
    return 0
