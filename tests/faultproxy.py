"""A TCP proxy in front of a real server that holds back chosen requests: a slow network path.

Not a stand-in for S3: every byte goes to the real server and back unchanged. The proxy only
delays a request whose first bytes (its request line) match, so a test can make one kind of
request slow (a checkpoint PUT) and leave the rest alone.
"""

from __future__ import annotations

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
