"""The admin listener in tests: a reserved address for ``admin.listen`` and its base URL."""

from __future__ import annotations

from tests.support import hand_over, reserved_port


def admin_listen() -> tuple[str, str]:
    """``(listen, url)``: a reserved 127.0.0.1 port for the admin listener, as the config value and as a URL."""
    port = reserved_port()
    hand_over(port)
    return f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
