"""Headless Chromium for the dashboard's browser tests, driven by Selenium.

Debian's ``chromium`` and ``chromium-driver`` packages are used as installed (``/usr/bin``); Selenium never
downloads a browser. Without them (or without the ``selenium`` package) a browser test is skipped with the
reason, except under ``CI=true``, where that is a failure: CI installs them, and a silent skip would hide
the dashboard from its tests.
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


def browser(profile: Path, width: int = 1280, height: int = 900, *, phone: bool = False) -> Iterator[Any]:
    """A fresh browser (its own profile folder); ``phone``: a phone's screen of ``width`` CSS pixels, emulated
    (a desktop window cannot be made that narrow)."""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the browser tests must run)")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*ARGUMENTS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(argument)
    if phone:
        metrics = {"width": width, "height": height, "pixelRatio": 2.0, "mobile": True, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    driver.implicitly_wait(5)  # a click that navigates returns before the next page is there
    try:
        yield driver
    finally:
        driver.quit()
