"""Stage 3, deliver: from a rendered delivery to a destination's answer, recorded.

``deliver`` claims due deliveries, sends each through its live connector and records the attempt;
``retry`` decides what an outcome means (delivered, due again at a time, or dead); ``live_connectors``
builds the connectors of one config behind their rate limits and circuit breakers, which outlive reloads.
"""
