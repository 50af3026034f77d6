"""Ports for servers that bind a port they are told, such as the daemon (``server.listen``) and the sandbox.

An in-process stand-in binds port 0 and reads the port the kernel chose; a server in another process, or one
configured before it starts, needs the port number first. ``PortReservation`` holds a free port for it: the
socket is bound with ``SO_REUSEADDR`` and never listens, so no other bind(0) and no plain bind can take the
port. On Linux a server that binds with ``SO_REUSEADDR`` too (asyncio's default, and the daemon's) takes a
held port all the same, so the reservation can stay until the server is gone (restarts included) and no
window is left. Elsewhere (BSD, macOS) a held port cannot be bound: ``hand_over`` releases it there, just
before the server starts, and a short race remains.
"""

from __future__ import annotations

import socket
import sys

REUSE_WHILE_HELD = sys.platform.startswith("linux")


class PortReservation:
    """A free TCP port of ``host``, kept from other processes until ``release``."""

    def __init__(self, host: str = "127.0.0.1"):
        self._sock: socket.socket | None = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port = int(self._sock.getsockname()[1])

    def hand_over(self) -> None:
        """Call just before the server binds the port: releases it where a held port cannot be bound."""
        if not REUSE_WHILE_HELD:
            self.release()

    def release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
