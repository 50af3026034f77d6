"""Headless Chromium for the dashboard's browser tests (and ``bench.screenshots``), driven by Selenium.

Debian's ``chromium`` and ``chromium-driver`` packages are used as installed (``/usr/bin``); Selenium never
downloads a browser. Without them (or without the ``selenium`` package) a browser test is skipped with the
reason, except under ``CI=true``, where that is a failure: CI installs them, and a silent skip would hide
the dashboard from its tests. ``misfits`` says what on the shown page does not fit the screen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def missing() -> str | None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return "chromium is not installed: apt-get install -y chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


# What does not fit the screen: the page scrolling sideways, a box whose content scrolls sideways inside it,
# a table cell reaching past the screen's edge or squeezed into a tall sliver (a closed <details> counts shut).
MISFITS = """
const width = window.innerWidth, found = [];
const page = document.documentElement.scrollWidth;
if (page > width) found.push(`the page is ${page} px wide on a ${width} px screen`);
document.querySelectorAll('.scroll, table').forEach((box) => {
  if (box.scrollWidth > box.clientWidth + 1)
    found.push(`${box.tagName}.${box.className} scrolls sideways: ${box.scrollWidth} > ${box.clientWidth}`);
});
document.querySelectorAll('td, th').forEach((cell) => {
  const r = cell.getBoundingClientRect();
  if (r.width === 0) return;
  const what = `${cell.tagName}[${cell.getAttribute('data-label') || cell.textContent.trim().slice(0, 20)}]`;
  if (r.right > width + 1 || r.left < -1) found.push(`${what} reaches past the screen: ${r.left}..${r.right}`);
  if (r.height > arguments[0]) found.push(`${what} is ${Math.round(r.height)} px tall`);
});
return found;
"""


def require() -> None:
    """Skip the test without Chromium (fail it under ``CI=true``, where a silent skip would hide it)."""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the browser tests must run)")
        pytest.skip(reason)


def misfits(driver: Any, tallest_cell: int = 160) -> list[str]:
    """What on the current page does not fit the screen (empty when everything does)."""
    found: list[str] = driver.execute_script(MISFITS, tallest_cell)
    return found


def browser(
    profile: Path, width: int = 1280, height: int = 900, *, phone: bool = False, pixel_ratio: float = 2.0
) -> Iterator[Any]:
    """A fresh browser (its own profile folder); ``phone``: a phone's screen of ``width`` CSS pixels, emulated
    (a desktop window cannot be made that narrow), at ``pixel_ratio`` device pixels per CSS pixel."""
    require()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*ARGUMENTS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(argument)
    if phone:
        metrics = {"width": width, "height": height, "pixelRatio": pixel_ratio, "mobile": True, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    driver.implicitly_wait(5)  # a click that navigates returns before the next page is there
    try:
        yield driver
    finally:
        driver.quit()
