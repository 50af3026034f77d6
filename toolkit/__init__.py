"""What the router and the connectors both use, below both: neither ``router`` nor ``connectors`` is imported here.

JSON text on the hot path (``jsontext``), durations and rates (``units``), a setting's description
(``fields``), what a request came to (``outcomes``), how an HTTP answer is classified (``status``), header
checks (``headers``), the pooled HTTP client (``client``), and rate limits and circuit breakers
(``protection``). Opening the store or reading a config loads these, never a connector type.
"""
