"""The one error a command raises for a mistake of its user: ``main`` prints it on one line and exits with 1."""

from __future__ import annotations


class UserError(Exception):
    """Printed as ``error: <message>`` with exit code 1, never as a traceback."""
