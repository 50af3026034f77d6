"""The contract kit: tests a connector type, built-in or a plugin's, must pass against a local stand-in.

Subclass ``ContractTests`` in your package's tests, say which connector it is, how its settings point at
a base URL and what one rendered action looks like; pytest then runs the kit's tests against a real HTTP
server on 127.0.0.1 (``StandIn``): a send reaches it, the delivery key is the same on every attempt, a 429
(with its ``Retry-After``), 5xx and timeouts are retryable and other 4xx permanent, customer-typed text
stays data (no extra request, header or path), and ``check_rendered`` accepts the sample action. The kit
needs pytest and aiohttp only; see docs/plugins.md.
"""

from connectors.testing.kit import ContractTests
from connectors.testing.stand_in import Recorded, Reply, StandIn

__all__ = ["ContractTests", "Recorded", "Reply", "StandIn"]
