"""plugpay-router: receive Plug&Pay webhooks, store them durably, and route them by YAML rules."""

__version__ = "0.1.0"
