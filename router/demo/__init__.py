"""Everything that exists to try the router out: the demo, the Plug&Pay sandbox, the local stand-ins for
every destination (SMTP, HTTP sink, ActiveCampaign, Moneybird) and the fixtures they serve.

The daemon never imports this package; the CLI's ``demo``, ``sandbox`` and ``simulate`` commands and the
tests do.
"""
