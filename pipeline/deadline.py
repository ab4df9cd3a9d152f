"""A deadline on a whole HTTP download, headers included.

requests' timeouts bound each wait for the next bytes, so a server that sends one header line or
one body byte every second never trips them: a 1 MB body at 1 byte/s takes eleven days. Here every
connection a download opens is registered with a watchdog timer; when the deadline passes, the
timer shuts the sockets down, the blocked read returns at once, and the download fails with a
timeout. A hung source costs at most its deadline, never the job.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()  # the Watchdog of the download running on this thread, if any


class Watchdog:
    """Shuts down every socket registered with it once `seconds` have passed."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def register(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _Watched:
    """Mixed into urllib3's connections: register the socket as soon as it is connected (the
    connect runs on the downloading thread, so the thread's watchdog is the right one)."""

    def connect(self):
        super().connect()
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            watchdog.register(self.sock)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def watched_session() -> requests.Session:
    """A requests Session whose connections obey the deadline of `deadline()` on this thread."""
    session = requests.Session()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextmanager
def deadline(seconds: float) -> Iterator[Watchdog]:
    """Within this block, connections opened on this thread by a `watched_session()` are shut down
    after `seconds`; the watchdog's `expired` then tells a timeout from other failures."""
    watchdog = Watchdog(seconds)
    previous = getattr(_current, "watchdog", None)
    _current.watchdog = watchdog
    watchdog.start()
    started = time.monotonic()
    try:
        yield watchdog
    finally:
        watchdog.cancel()
        _current.watchdog = previous
        if time.monotonic() - started > seconds:
            watchdog.expired = True
