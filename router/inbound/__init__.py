"""Stage 1, receive: the webhook endpoint, from the raw request to a committed event and its answer.

``receive`` checks size and content type, verifies the signature (``verify``: the one admit decision for
arriving and released webhooks), answers the self-test of ``doctor --url`` (``selftest``), sets aside
webhooks older than the dedupe window (``stale``), keeps what failed verification in a bounded quarantine
(``quarantine``) and stores the event before it answers 2xx. ``v1`` accepts legacy form posts on a secret
path. Nothing here calls the Plug&Pay API or a destination.
"""
