"""The names of span attributes: OpenTelemetry's semantic conventions where one fits, ``plugpay_router.*`` else.

The messaging attributes describe the event (a webhook is a message Plug&Pay sent), the HTTP ones each
request: the webhook received, the Plug&Pay API fetch and every HTTP delivery attempt.
"""

from __future__ import annotations

# messaging: the event
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_DESTINATION = "messaging.destination.name"  # the trigger (order_paid, ...)
MESSAGING_MESSAGE_ID = "messaging.message.id"  # the event's id in the store
MESSAGING_BODY_SIZE = "messaging.message.body.size"
SYSTEM = "plugandpay"

# HTTP: one request
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
URL_FULL = "url.full"
URL_PATH = "url.path"
URL_SCHEME = "url.scheme"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# the router's own
EVENT_ID = "plugpay_router.event_id"
TRIGGERABLE = "plugpay_router.triggerable"  # order:1042
SOURCE = "plugpay_router.source"  # webhook, reconcile, backfill, alert
OUTCOME = "plugpay_router.outcome"  # accepted / duplicate / stale / routed / failed / retry / delivered / dead ...
RULE = "plugpay_router.rule"
RULES_MATCHED = "plugpay_router.rules_matched"
DELIVERIES = "plugpay_router.deliveries"
DELIVERY_ID = "plugpay_router.delivery_id"
CONNECTOR = "plugpay_router.connector"
CONNECTOR_TYPE = "plugpay_router.connector_type"
ATTEMPT = "plugpay_router.attempt"
STATUS_CODE = "plugpay_router.status_code"  # what the connector reported (HTTP or SMTP)
