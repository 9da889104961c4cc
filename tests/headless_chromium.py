"""Headless Chromium for the web demo's page tests, and helpers that read the page.

Debian's `chromium` and `chromium-driver` (`make setup` installs them when missing) driven by
Selenium; the driver is passed explicitly and `SE_OFFLINE` is set, so Selenium Manager never
goes online."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
DRIVER_PATHS = ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver")
MISSING = "headless Chromium is missing ({}): `make setup` installs chromium and chromium-driver"


def _find(names, extra=()) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((str(p) for p in map(Path, extra) if p.is_file()), None)


def find_chromium() -> tuple[str, str] | str:
    """(browser, driver) paths, or the reason they cannot be used (for a skip)."""
    binary, driver = _find(BROWSERS), _find(DRIVERS, DRIVER_PATHS)
    if binary is None or driver is None:
        return MISSING.format("no browser" if binary is None else "no chromedriver")
    return binary, driver


def start_chromium(binary: str, driver: str) -> webdriver.Chrome:
    """A headless Chromium session, 1280 x 1000, logging the page's console.

    Raises:
        RuntimeError: Chromium is installed but does not start (a failure, not a skip).
    """
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    offline = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager download anything
    try:
        drv = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except WebDriverException as e:
        raise RuntimeError(f"Chromium ({binary}) with {driver} did not start: {e.msg}") from e
    finally:
        if offline is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = offline
    drv.set_page_load_timeout(60)
    return drv


def wait(driver, condition, what: str, timeout: float = 30):
    waiting = WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])
    return waiting.until(lambda d: condition(d), message=what)


def _tags(driver, selector: str) -> list[str]:
    """The `data-tag`s of the elements `selector` selects, read in one step (the page may
    re-render between two WebDriver calls)."""
    script = "return [...document.querySelectorAll(arguments[0])].map((e) => e.dataset.tag)"
    return driver.execute_script(script, selector)


def suggested(driver) -> list[str]:
    return _tags(driver, "#suggestions li")


def accepted(driver) -> list[str]:
    return _tags(driver, "#accepted .chip")


def error_text(driver) -> str:
    box = driver.find_element(By.ID, "error")
    return box.text if box.is_displayed() else ""


def open_page(driver, url: str) -> None:
    driver.get(url + "/")
    wait(
        driver,
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
        "page ready",
    )


def upload(driver, path: Path) -> None:
    driver.find_element(By.ID, "photo").send_keys(str(path))


def until_tags_change(driver, before: list[str], what: str) -> list[str]:
    wait(driver, lambda d: suggested(d) and suggested(d) != before, what)
    return suggested(driver)


def console_errors(driver) -> list[dict]:
    """The page's SEVERE console entries, but for the API's own 4xx answers (expected)."""
    logs = driver.get_log("browser")
    return [e for e in logs if e["level"] == "SEVERE" and "/recommend" not in e["message"]]
