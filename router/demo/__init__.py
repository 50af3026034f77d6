"""Everything that exists to try the router out: the demo, the Plug&Pay sandbox, the local stand-ins for
every destination (SMTP, HTTP sink, ActiveCampaign, Moneybird) and the fixtures they serve.

The daemon never imports this package; the CLI's ``demo`` and ``sandbox`` commands and the tests do. Its
modules import downwards only: ``run`` uses ``live``, ``ports``, ``report`` and ``targets``; ``live`` uses
``report`` and ``targets``; ``targets`` starts the ``sandbox`` and the ``standins``; ``ports`` and ``report``
use no other module of the package.
"""
