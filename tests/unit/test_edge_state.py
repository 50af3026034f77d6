"""The state check (router.routing.state_check): an action runs only when the fetched object agrees with the trigger."""

from __future__ import annotations

import copy

import pytest

from router.demo.sandbox import load_fixtures
from router.routing import state_check

FIXTURES = load_fixtures()


def order(ident: str = "1042") -> dict:
    return copy.deepcopy(FIXTURES["orders"][ident])


def test_a_paid_order_confirms_order_paid_and_an_open_one_says_what_was_seen():
    assert state_check.mismatch("order_paid", order()) is None
    unpaid = order()
    unpaid["payment"].update(status="open", paid_at=None)
    assert state_check.mismatch("order_paid", unpaid) == "payment.status is 'open' and payment.paid_at is missing"
    paid_at_only = order()
    paid_at_only["payment"]["status"] = "processing"
    assert state_check.mismatch("order_paid", paid_at_only) is None  # paid_at set: Plug&Pay recorded the payment


def test_invoice_subscription_and_seller_states_must_agree_with_their_trigger():
    concept = order()
    concept["invoice_number"] = None
    assert state_check.mismatch("invoice_created", order()) is None
    assert state_check.mismatch("invoice_created", concept) == "invoice_number is missing"
    subscription = copy.deepcopy(FIXTURES["subscriptions"]["901"])
    assert state_check.mismatch("subscription_ended", subscription) is None
    subscription["status"] = "active"
    assert state_check.mismatch("subscription_ended", subscription) == (
        "status is 'active', not one of ended, inactive, cancelled"
    )
    accepted, declined = FIXTURES["sellers"]["14"], FIXTURES["sellers"]["15"]
    assert state_check.mismatch("affiliate_accepted", accepted) is None
    assert state_check.mismatch("affiliate_denied", declined) is None
    assert state_check.mismatch("affiliate_accepted", declined) == "seller status is 'declined', not 'accepted'"
    assert state_check.mismatch("affiliate_denied", accepted) == "seller status is 'accepted', not 'declined'"


@pytest.mark.parametrize("trigger", ["affiliate_quit", "some_new_trigger"])
def test_triggers_without_a_checkable_state_always_agree(trigger):
    assert state_check.mismatch(trigger, {}) is None


def test_confirm_state_is_on_by_default_and_can_be_turned_off_per_trigger():
    assert state_check.enabled(True, "order_paid")
    assert not state_check.enabled(False, "order_paid")
    assert not state_check.enabled({"order_paid": False}, "order_paid")
    assert state_check.enabled({"order_paid": False}, "invoice_created")


def test_the_recheck_count_is_read_back_from_the_events_last_error():
    assert state_check.rechecks_done(None) == 0
    assert state_check.rechecks_done("Plug&Pay API answered 503") == 0
    error = state_check.recheck_error(2, 3, "order_paid", "payment.status is 'open'")
    assert state_check.rechecks_done(error) == 2
    assert state_check.failure("order_paid", "payment.status is 'open'", 3) == (
        "state mismatch (order_paid: payment.status is 'open', after 3 re-checks)"
    )
