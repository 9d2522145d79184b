"""Faults on the network path, for tests: a slow proxy in front of a real server, and a server
that is only ever unavailable.

Neither is a stand-in for S3. The proxy sends every byte to the real server and back unchanged; it
only delays a request whose first bytes (its request line) match, so a test can make one kind of
request slow (a checkpoint PUT) and leave the rest alone. The unavailable server answers 503 to
everything, as an overloaded store, a node without quorum or a proxy with no route does.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class DelayingProxy:
    """Listens on 127.0.0.1; forwards to ``target`` (host, port); requests whose request line
    matches ``pattern`` (bytes regex) wait ``seconds`` before they are sent on. ``delayed`` counts them."""

    def __init__(self, target: tuple[str, int], pattern: bytes, seconds: float):
        self.target, self.pattern, self.seconds = target, re.compile(pattern), seconds
        self.delayed = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="delaying-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=30)
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while not self._stop.is_set():
                data = source.recv(1 << 16)
                if not data:
                    break
                # A new request starts a send of its own after the previous answer: its line is
                # at the start of a read. A delayed one waits here, holding back only this connection.
                if requests and self.pattern.match(data):
                    with self._lock:
                        self.delayed += 1
                    self._stop.wait(self.seconds)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@contextmanager
def delaying_proxy(target: tuple[str, int], pattern: bytes, seconds: float) -> Iterator[DelayingProxy]:
    """A :class:`DelayingProxy`, closed on exit."""
    proxy = DelayingProxy(target, pattern, seconds)
    try:
        yield proxy
    finally:
        proxy.close()


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """Answers every request 503 (with ``Retry-After`` when the server has one), as a busy server,
    a node without quorum, or a proxy with no route do."""

    protocol_version = "HTTP/1.1"

    def _answer(self):
        self.server.paths.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        if self.server.retry_after is not None:
            self.send_header("Retry-After", str(self.server.retry_after))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, *args):
        pass


@contextmanager
def unavailable_server(retry_after: int | None = None) -> Iterator[http.server.HTTPServer]:
    """An HTTP server on 127.0.0.1 answering every request 503 ``SlowDown``; ``.paths`` lists what
    it was asked, ``.server_port`` is its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    server.paths, server.retry_after = [], retry_after
    thread = threading.Thread(target=server.serve_forever, name="unavailable-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
