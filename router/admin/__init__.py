"""The admin listener: the JSON admin API (``api``), the dashboard (``ui`` with its ``templates`` and
``static`` files, ``pages`` for their Jinja environment, ``auth`` for login, session cookie and CSRF,
``chart``), ``access`` for who a request is (``admin.token``, or a user of ``admin.users`` limited to its
shops) and the store as that login sees it, and ``app``, which serves them with ``/metrics`` on
``admin.listen``."""

from router.admin.api import MAX_ID, MAX_LIMIT, AdminApi, BadQuery, delivery_filter, event_filter, parse_time
from router.admin.app import admin_app
from router.admin.ui import AdminStatus, Dashboard

__all__ = [
    "MAX_ID",
    "MAX_LIMIT",
    "AdminApi",
    "AdminStatus",
    "BadQuery",
    "Dashboard",
    "admin_app",
    "delivery_filter",
    "event_filter",
    "parse_time",
]
