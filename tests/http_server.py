"""A local HTTP server on 127.0.0.1 for http(s) source tests: serves given bytes by path, 404 for
anything else, and holds `/hang/...` requests without answering until the server stops.
`/trickle-body/...` declares 1,000,000 bytes and sends one every 50 ms; `/trickle-headers/...` sends
one header line every 50 ms and never ends them: both are far below any per-read timeout."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def image_server(files: dict[str, bytes]):
    """Yields the base URL (http://127.0.0.1:PORT). `files` maps a path like "/a.jpg" to its bytes."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path.startswith("/hang/"):
                release.wait(120)  # never answers while the test runs
                return
            if self.path.startswith(("/trickle-body/", "/trickle-headers/")):
                self.trickle(body=self.path.startswith("/trickle-body/"))
                return
            body = files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def trickle(self, body: bool) -> None:
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                if body:
                    self.wfile.write(b"Content-Length: 1000000\r\n\r\n")
                for i in range(1_000_000):
                    if release.wait(0.05):
                        return
                    self.wfile.write(b"x" if body else f"X-Slow-{i}: y\r\n".encode())
                    self.wfile.flush()
            except OSError:
                return  # the client gave up

        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
