"""Connector types: one module (or folder) per destination type, each a subclass of ``connectors.base.Connector``.

``connectors.base`` is the contract a connector type implements; ``connectors.registry`` finds a type by
name. This package imports nothing itself, so a module that needs one connector (or none) loads only that.
The pieces the router shares with the connectors (JSON text, units, the HTTP client, answer
classification, rate limits) live in ``toolkit``; a connector never imports ``router``.
"""
