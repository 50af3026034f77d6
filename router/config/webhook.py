"""Whether inbound webhooks are verified: the checks on ``plugandpay.webhook_key`` and the opt-in to run without.

Without a key the listener accepts every webhook unsigned, so anybody who knows the URL can make the router
act. That must never happen by accident: a key that is configured but empty (``PLUGANDPAY_WEBHOOK_KEY=`` in
the environment), still a placeholder of the examples, or otherwise not a real key (quotes or a comment an
env file kept, an unexpanded ``${VAR}``, a short or repetitive value: ``secret_strength``) is an error, and
so is no key at all, unless the file says ``allow_unsigned: true`` (then ``check`` and the daemon's start
warn loudly). A key together with
``allow_unsigned: true`` is an error too: the file would say two contradicting things.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.config.model import PlugAndPayConfig
from router.config.secret_strength import weakness

# Plug&Pay issues the key; its length is not documented, so the bound only refuses what anybody could guess.
MIN_KEY_LENGTH = 12

_WHERE = "the shop's webhook key (Plug&Pay > Settings > Developers)"
_OPT_IN = "plugandpay.allow_unsigned: true"


@dataclass(frozen=True)
class Finding:
    key: str  # under plugandpay
    message: str
    error: bool  # False: a warning, the file loads


def check_webhook_key(plugandpay: PlugAndPayConfig) -> Finding | None:
    """What is wrong with, or worth a warning about, how webhooks are verified; None when a real key is set."""
    key = plugandpay.webhook_key
    if key is None:
        if plugandpay.allow_unsigned:
            return Finding(
                "allow_unsigned",
                "WEBHOOKS ARE ACCEPTED UNSIGNED: anybody who can reach server.path can make the router act;"
                f" set plugandpay.webhook_key to {_WHERE} before Plug&Pay sends real webhooks",
                error=False,
            )
        return Finding(
            "webhook_key",
            f"is not set, so webhooks would be accepted unsigned: set it to {_WHERE}, as"
            f' webhook_key: "${{PLUGANDPAY_WEBHOOK_KEY}}", or say {_OPT_IN} (and no webhook_key)'
            " to accept unsigned webhooks on purpose",
            error=True,
        )
    if not key.strip():
        return Finding(
            "webhook_key",
            f"is empty (an empty environment variable?): set it to {_WHERE}; to accept unsigned webhooks on"
            f" purpose, remove webhook_key and say {_OPT_IN}",
            error=True,
        )
    reason = weakness(key, minimum=MIN_KEY_LENGTH)
    if reason is not None:
        return Finding("webhook_key", f"{reason}: set it to {_WHERE}", error=True)
    if plugandpay.allow_unsigned:
        return Finding(
            "allow_unsigned",
            "contradicts webhook_key (with a key, unsigned webhooks get 401): remove allow_unsigned, or remove"
            " webhook_key to accept unsigned webhooks",
            error=True,
        )
    return None
