"""Traces (OpenTelemetry, the optional ``otel`` extra): one trace per event, from its webhook to each delivery attempt.

``spans`` is the facade the stages call (``span``, ``current``, ``current_traceparent``): while tracing is off
it hands out one shared null span and imports nothing. ``otel`` is the one module that imports OpenTelemetry,
loaded by ``spans.start`` only when the config asks for traces. ``describe`` says what each stage's span
carries, and ``names`` spells those attributes (OpenTelemetry's semantic conventions, and the router's own
under ``plugpay_router.``).
"""
