"""The SQL of the SQLite store, as named constants; the store module holds only the Python around it.

Parameters are ``?``. A few constants are templates with a ``{…}`` part the store fills in before use:
a filter's ``WHERE`` clause (from ``router.store.filters.where``) or the ``?`` marks of an id list. Status
literals in the SQL are the values of ``router.store.status``; they must be spelled out here, because
the partial "due" indexes are chosen only for a literal ``status = 'pending'``.
"""

from __future__ import annotations

from router.store import outbox
from router.store.rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    DELIVERY_VALUE_COLUMNS,
    EVENT_COLUMNS,
    EVENT_VALUE_COLUMNS,
)
from toolkit import jsontext

PING = "INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, ?)"

# ------------------------------------------------------------ receive

# One statement inserts the event unless a live dedupe key says it is a repeat.
ADD_EVENT = (
    f"INSERT INTO events (dedupe_key, {EVENT_VALUE_COLUMNS}, status, received_at, next_attempt_at, trace)"
    " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
    " WHERE NOT EXISTS (SELECT 1 FROM dedupe WHERE key = ? AND expires_at > ?) RETURNING id"
)
DEDUPED_EVENT = "SELECT event_id FROM dedupe WHERE key = ?"
KEEP_DEDUPE_KEY = "INSERT OR REPLACE INTO dedupe (key, event_id, expires_at) VALUES (?, ?, ?)"
COUNT_DUPLICATE = "UPDATE events SET duplicates = duplicates + 1 WHERE id = ?"

# ------------------------------------------------------------ claims and leases

# The due work is found through the partial "due" indexes only. Left to itself, SQLite's planner (without
# statistics) prefers the (status, id) index and sorts every pending row: with a backlog of 30,000 events a
# claim took 9 ms instead of 30 µs, and the route stage fell further behind the more it lagged.
# A shop's loops (``shops:``) claim only its work, through indexes on (shop, due time).
_CLAIM = (
    "UPDATE {table} SET lease_owner = ?, next_attempt_at = ? WHERE id IN (SELECT id FROM {table}"
    " INDEXED BY {table}_{index} WHERE status = 'pending'{shop} AND next_attempt_at <= ? ORDER BY next_attempt_at"
    " LIMIT ?) RETURNING {columns}"
)
CLAIM = {
    (table, by_shop): _CLAIM.format(
        table=table,
        columns=columns,
        index="shop_due" if by_shop else "due",
        shop=" AND shop = ?" if by_shop else "",
    )
    for table, columns in (("events", EVENT_COLUMNS), ("deliveries", DELIVERY_COLUMNS))
    for by_shop in (False, True)
}
# Each shop's earliest due event and delivery: two probes of the (shop, due) indexes per name in the JSON list.
_DUE = "(SELECT min(next_attempt_at) FROM {table} INDEXED BY {table}_{index} WHERE status = 'pending'{shop})"
DUE_TIMES = {
    False: "SELECT " + ", ".join(_DUE.format(table=t, index="due", shop="") for t in ("events", "deliveries")),
    True: "SELECT "
    + ", ".join(_DUE.format(table=t, index="shop_due", shop=" AND shop = s.value") for t in ("events", "deliveries"))
    + " FROM json_each(?) AS s ORDER BY s.key",
}


def claim(
    table: str, owner: str, until: float, now: float, limit: int, shop: str | None
) -> tuple[str, tuple[object, ...]]:
    """The claim statement and its parameters: of every shop's work, or of one shop's."""
    if shop is None:
        return CLAIM[table, False], (owner, until, now, limit)
    return CLAIM[table, True], (owner, until, shop, now, limit)


def due_times(shops: list[str] | None) -> tuple[str, tuple[object, ...]]:
    """The due-times statement and its parameters: of the whole store, or of each of ``shops``."""
    return (DUE_TIMES[False], ()) if shops is None else (DUE_TIMES[True], (jsontext.dumps(shops),))


# A released item is due at once: its due time goes back from the lease expiry to when it arrived.
_RELEASE = (
    "UPDATE events SET lease_owner = NULL, next_attempt_at = min(next_attempt_at, received_at)"
    " WHERE lease_owner {owner}",
    "UPDATE deliveries SET lease_owner = NULL, next_attempt_at = min(next_attempt_at, updated_at)"
    " WHERE lease_owner {owner}",
)
RELEASE_OWNER = tuple(sql.format(owner="= ?") for sql in _RELEASE)  # one holder's leases
RELEASE_ALL = tuple(sql.format(owner="IS NOT NULL") for sql in _RELEASE)  # every lease (no holder is alive)
# A lease renewal for work still in flight: never shortens a lease, never touches one held by another.
EXTEND_LEASES = {
    table: f"UPDATE {table} SET next_attempt_at = max(next_attempt_at, ?) WHERE lease_owner = ?"
    " AND status = 'pending' AND id IN ({marks})"
    for table in ("events", "deliveries")
}

# ------------------------------------------------------------ route

COMPLETE_EVENT = (
    "UPDATE events SET status = 'routed', lease_owner = NULL, outcomes = ?, config_version = ?,"
    " routed_at = ?, last_error = NULL, fetched = ? WHERE id = ? AND lease_owner = ?"
)
# An action whose key is kept (even with its delivery purged long ago) is not stored again.
ADD_DELIVERY = (
    f"INSERT INTO deliveries (event_id, {DELIVERY_VALUE_COLUMNS}, next_attempt_at, created_at, updated_at,"
    " config_version, trace, shop) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " (SELECT shop FROM events WHERE id = ?)"
    " WHERE NOT EXISTS (SELECT 1 FROM action_keys WHERE key = ?) ON CONFLICT (action_key) DO NOTHING RETURNING id"
)
KEEP_ACTION_KEY = "INSERT OR IGNORE INTO action_keys (key, delivery_id, event_id, created_at) VALUES (?, ?, ?, ?)"
RETRY_EVENT = (
    "UPDATE events SET lease_owner = NULL, next_attempt_at = ?, attempts = attempts + 1,"
    " last_error = ? WHERE id = ? AND lease_owner = ?"
)
FAIL_EVENT = (
    "UPDATE events SET status = 'failed', lease_owner = NULL, attempts = attempts + 1,"
    " last_error = ?, routed_at = ? WHERE id = ? AND lease_owner = ?"
)

# ------------------------------------------------------------ deliver

FINISH_DELIVERY = (
    "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
    " lease_owner = NULL, last_error = ?, updated_at = ? WHERE id = ? AND lease_owner = ?"
    " RETURNING attempts"
)
NEXT_ATTEMPT_NUMBER = "SELECT attempts + 1 FROM deliveries WHERE id = ?"
ADD_ATTEMPT = f"INSERT INTO attempts ({ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
DEFER_DELIVERY = "UPDATE deliveries SET lease_owner = NULL, next_attempt_at = ? WHERE id = ? AND lease_owner = ?"

# ------------------------------------------------------------ reading

GET_EVENT = f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?"
LIST_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events {{where}} ORDER BY id DESC LIMIT ?"
GET_DELIVERY = f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?"
LIST_DELIVERIES = f"SELECT {DELIVERY_COLUMNS} FROM deliveries {{where}} ORDER BY id DESC LIMIT ?"
DELIVERY_IDS = "SELECT id FROM deliveries {where} ORDER BY id"
LIST_ATTEMPTS = f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ? ORDER BY id"
EVENT_COUNTS = "SELECT status, count(*) FROM events GROUP BY status"
DELIVERY_COUNTS = "SELECT status, count(*) FROM deliveries GROUP BY status"
# Through the partial "due" indexes: they hold only pending rows. Left to itself (with statistics) the planner
# walked the received_at index from the start and looked up every row: 0.8 s with 100,000 finished events.
OLDEST_PENDING = (
    "SELECT min(t) FROM (SELECT min(received_at) AS t FROM events INDEXED BY events_due WHERE status = 'pending'"
    " UNION ALL SELECT min(created_at) FROM deliveries INDEXED BY deliveries_due WHERE status = 'pending')"
)

# ------------------------------------------------------------ operating

EVENT_EXISTS = "SELECT 1 FROM events WHERE id = ?"
FREE_DEAD_ACTION_KEYS = (
    "DELETE FROM action_keys WHERE key IN (SELECT action_key FROM deliveries WHERE event_id = ? AND status = 'dead')"
)
SUPERSEDE_DEAD = (
    "UPDATE deliveries SET status = 'superseded', action_key = action_key || ':superseded:' || id,"
    " updated_at = ? WHERE event_id = ? AND status = 'dead'"
)
REROUTE_EVENT = (
    "UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL,"
    " last_error = NULL WHERE id = ?"
)
REPLAY = (
    "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
    " lease_owner = NULL, updated_at = ? WHERE id IN ({marks})"
    " AND (status = 'dead' OR (status = 'delivered' AND ?)) AND request IS NOT NULL"
)
PURGE_EVENTS = (
    "DELETE FROM events WHERE id IN (SELECT e.id FROM events e WHERE e.received_at < ?"
    " AND e.status != 'pending' AND NOT EXISTS (SELECT 1 FROM deliveries d"
    " WHERE d.event_id = e.id AND d.status = 'pending') ORDER BY e.received_at LIMIT ?)"
)
PURGE_DEDUPE = "DELETE FROM dedupe WHERE key IN (SELECT key FROM dedupe WHERE expires_at <= ? LIMIT ?)"
PURGE_OUTBOX = (
    "DELETE FROM alert_outbox WHERE id IN (SELECT id FROM alert_outbox WHERE created_at < ? ORDER BY id LIMIT ?)"
)
PURGE_ACTION_KEYS = (
    "DELETE FROM action_keys WHERE key IN"
    " (SELECT key FROM action_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)"
)

# ------------------------------------------------------------ alerts

OUTBOX_DEAD = outbox.DEAD_DELIVERY.format(now="?", json="json_object", id="?")
OUTBOX_FAILED = outbox.FAILED_EVENT.format(now="?", json="json_object", id="?")
OUTBOX_ADD = "INSERT INTO alert_outbox (kind, created_at, item) VALUES (?, ?, ?)"
OUTBOX_AFTER = outbox.AFTER.format(after="?", limit="?")
