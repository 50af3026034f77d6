"""The dashboard in a real browser (headless Chromium): log in, find an order, read its trace, replay a dead
delivery with a click, send a delivered one again only after saying yes, and see customer text stay text.
Set ``PLUGPAY_SCREENSHOTS=DIR`` to keep screenshots of the pages a test passes (the README's pictures come
from ``python -m bench.screenshots``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser import browser, misfits
from tests.dashboard_support import ADMIN_TOKEN, HOSTILE_NAME, shop_with_history
from tests.support import wait_until


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    yield from browser(tmp_path / "chrome-profile")


def log_in(driver: Any, admin_url: str, path: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    driver.get(f"{admin_url}{path}")
    assert "/ui/login" in driver.current_url  # the login is required
    driver.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(lambda d: "/ui/login" not in d.current_url)


def arrived_at(driver: Any, ending: str) -> bool:
    """Wait (up to 10 s) until the page the last click led to is the one whose path ends with ``ending``."""
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path.endswith(ending))
    return True


def no_alert(driver: Any) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert  # noqa: B018 (the property raises when there is none)
    except NoAlertPresentException:
        return True
    return False


def screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("PLUGPAY_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / name))


async def test_find_an_order_read_its_trace_and_replay_a_dead_delivery(
    daemon_factory, sandbox, sink, tmp_path, chrome
) -> None:
    from selenium.webdriver.common.by import By

    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    log_in(chrome, shop.admin_url, "/ui")
    assert "Overview" in chrome.find_element(By.TAG_NAME, "h1").text
    screenshot(chrome, "dashboard-overview.png")

    # Two clicks from the overview: search the order id, open its event.
    search = chrome.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    search.send_keys("1043")
    search.submit()
    chrome.find_element(By.CSS_SELECTOR, f"a[href='/ui/events/{shop.dead_event}']").click()
    assert f"/ui/events/{shop.dead_event}" in chrome.current_url

    # The dead delivery shows with its attempt, and the customer's "name" is text, not markup.
    status = chrome.find_element(By.CSS_SELECTOR, "[data-delivery-status]")
    assert status.text == "dead"
    assert "unknown course" in chrome.find_element(By.CSS_SELECTOR, "table.attempts").text
    chrome.find_element(By.CSS_SELECTOR, "details summary").click()
    request = chrome.find_element(By.CSS_SELECTOR, "details pre")
    assert HOSTILE_NAME in request.text and request.is_displayed()
    chrome.implicitly_wait(0)
    assert chrome.find_elements(By.CSS_SELECTOR, "img[src=x]") == []
    chrome.implicitly_wait(5)
    assert no_alert(chrome)
    screenshot(chrome, "dashboard-event.png")

    # The delivered order shows its attempt and what the destination answered.
    chrome.get(f"{shop.admin_url}/ui/events/{shop.delivered_event}")
    assert chrome.find_element(By.CSS_SELECTOR, "[data-delivery-status]").text == "delivered"
    assert "200" in chrome.find_element(By.CSS_SELECTOR, "table.attempts").text

    # Replay the dead one with a click: the sink receives it again and the page shows it delivered.
    chrome.get(f"{shop.admin_url}/ui/events/{shop.dead_event}")
    chrome.find_element(By.CSS_SELECTOR, "button.replay").click()
    assert "requeued" in chrome.find_element(By.CSS_SELECTOR, ".notice").text
    arrived = await sink.wait_for(3)
    assert arrived[-1].json()["name"] == HOSTILE_NAME

    async def shown_delivered() -> bool:
        chrome.refresh()
        return bool(chrome.find_element(By.CSS_SELECTOR, "[data-delivery-status]").text == "delivered")

    await wait_until(shown_delivered, 10, "the replayed delivery to show as delivered")
    assert no_alert(chrome)


async def test_dead_letters_replay_selected_on_a_phone_sized_screen(daemon_factory, sandbox, sink, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    for chrome in browser(tmp_path / "phone-profile", width=390, height=844, phone=True):
        log_in(chrome, shop.admin_url, "/ui/dead")
        rows = chrome.find_elements(By.CSS_SELECTOR, "input[name=ids]")
        assert len(rows) == 1
        # Nothing on the page is wider than the screen: the rows are cards.
        assert chrome.execute_script("return window.innerWidth") == 390
        assert misfits(chrome) == []
        rows[0].click()
        chrome.find_element(By.CSS_SELECTOR, "#replay-selected button[type=submit]").click()
        assert "1 delivery requeued" in chrome.find_element(By.CSS_SELECTOR, ".notice").text
        await sink.wait_for(3)


async def test_send_again_asks_first_and_sends_only_after_yes(daemon_factory, sandbox, sink, tmp_path, chrome) -> None:
    from selenium.webdriver.common.by import By

    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    log_in(chrome, shop.admin_url, f"/ui/events/{shop.delivered_event}")
    chrome.implicitly_wait(0)
    assert chrome.find_elements(By.CSS_SELECTOR, "button.replay") == []  # no one-click replay of a delivered one
    chrome.implicitly_wait(5)
    again = chrome.find_element(By.CSS_SELECTOR, "button.send-again")
    assert again.text == "Send again…" and "secondary" in again.get_attribute("class")
    again.click()
    assert arrived_at(chrome, "/again")
    assert "was delivered" in chrome.find_element(By.CSS_SELECTOR, ".confirm .warning").text
    chrome.find_element(By.LINK_TEXT, "Cancel").click()  # no: back to the event, nothing sent
    assert arrived_at(chrome, f"/ui/events/{shop.delivered_event}")
    assert len(sink.requests) == 2

    chrome.find_element(By.CSS_SELECTOR, "button.send-again").click()
    chrome.find_element(By.CSS_SELECTOR, "#send-again button").click()  # yes
    assert "will be sent again" in chrome.find_element(By.CSS_SELECTOR, ".notice").text
    arrived = await sink.wait_for(3)
    assert arrived[-1].key == arrived[0].key
    assert no_alert(chrome)
