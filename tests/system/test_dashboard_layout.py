"""Every dashboard page fits a phone (390 x 844) and a desktop (1280 x 900) in headless Chromium: no page scrolls
sideways, no table cell is cut off at the screen's edge or squeezed into a tall sliver, and below 640 px the
lists are stacked cards (one box per row, a label before each value)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser import browser, misfits
from tests.dashboard_support import ADMIN_TOKEN, add_failed_event, shop_with_history
from tests.system.test_dashboard import LONG_ERROR

SIZES = (("phone", 390, 844), ("desktop", 1280, 900))


def log_in(driver: Any, admin_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    driver.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(lambda d: "/ui/login" not in d.current_url)


async def test_no_page_scrolls_sideways_on_a_phone_or_a_desktop(daemon_factory, sandbox, sink, tmp_path: Path):
    from selenium.webdriver.common.by import By

    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path, dead_error=LONG_ERROR)
    failed = await add_failed_event(shop)
    pages = {
        "overview": "/ui",
        "events": "/ui/events",
        "search": "/ui/events?q=1043",
        "object": "/ui/objects/order/1043",
        "event (dead delivery)": f"/ui/events/{shop.dead_event}",
        "event (delivered)": f"/ui/events/{shop.delivered_event}",
        "event (failed)": f"/ui/events/{failed}",
        "dead letters": "/ui/dead",
        "send again?": "/ui/deliveries/1/again",
    }
    problems: dict[str, list[str]] = {}
    cards: dict[str, tuple[str, str, bool]] = {}  # size -> how the dead letters' error cell is laid out
    for name, width, height in SIZES:
        for chrome in browser(tmp_path / f"{name}-profile", width, height, phone=name == "phone"):
            chrome.get(f"{shop.admin_url}/ui/login")
            assert chrome.execute_script("return window.innerWidth") == width
            problems[f"{name}: login"] = misfits(chrome)
            log_in(chrome, shop.admin_url)
            for page, path in pages.items():
                chrome.get(f"{shop.admin_url}{path}")
                assert chrome.find_element(By.TAG_NAME, "h1").text, f"{page} did not render"
                problems[f"{name}: {page}"] = misfits(chrome)
            chrome.get(f"{shop.admin_url}/ui/dead")
            cell = chrome.find_element(By.CSS_SELECTOR, "table.list td.error")
            display = chrome.execute_script("return getComputedStyle(arguments[0]).display", cell)
            label = chrome.execute_script("return getComputedStyle(arguments[0], '::before').content", cell)
            inside = cell.is_displayed() and cell.rect["x"] + cell.rect["width"] <= width
            cards[name] = (display, label, inside)
    assert {page: found for page, found in problems.items() if found} == {}
    # Below 640 px a list is a stack of cards: each cell a block with its column's name before it.
    assert cards == {"phone": ("block", '"error"', True), "desktop": ("table-cell", "none", True)}
