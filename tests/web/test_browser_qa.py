"""QA and the admin in a real browser: review and sign off an excursion, manage an account.

Headless Debian chromium driven by selenium (as ``test_browser.py``), against
a daemon polling simulators. Full-page screenshots go to ``test-artifacts/``
for a person to look at (``docs/samples/`` holds two of them); the test checks
what a person would: nothing runs off the side at desk and tablet widths,
the signature reads with printed name, UTC time and meaning, and the browser
reports no script error, CSP violation or missing file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.api.daemon import PASSWORD, running_daemon
from tests.api.test_qa_pages import finished_excursion
from tests.web.test_browser import ARTIFACTS, _browser

#: The one refusal these tests cause on purpose: a wrong signature password answers 403.
EXPECTED_403 = "close - Failed to load resource: the server responded with a status of 403"


def shot(browser: WebDriver, name: str, width: int = 1400) -> None:
    """A screenshot of the whole page (the window grown to the document's height)."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, max(int(height) + 140, 700))
    browser.save_screenshot(str(ARTIFACTS / name))
    browser.set_window_size(width, 1000)


def fits(browser: WebDriver) -> None:
    widths = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], (browser.current_url, widths)


def log_in(browser: WebDriver, url: str, username: str) -> WebDriverWait[WebDriver]:
    wait = WebDriverWait(browser, 15)
    browser.get(url + "/login")
    wait.until(ec.presence_of_element_located((By.ID, "username"))).send_keys(username)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    wait.until(ec.presence_of_element_located((By.ID, "current-user")))
    return wait


def _qa_signs_off(url: str, exc_id: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser = _browser()
    try:
        wait = log_in(browser, url, "quinn")
        browser.find_element(By.LINK_TEXT, "Excursions").click()
        row = wait.until(ec.presence_of_element_located((By.ID, f"exc-{exc_id}")))
        assert row.get_attribute("data-status") == "open"
        assert "5.00 Pa" in row.text
        fits(browser)
        shot(browser, "qa-excursions.png")
        row.find_element(By.LINK_TEXT, str(exc_id)).click()

        form = wait.until(ec.presence_of_element_located((By.ID, "review-form")))
        assert not browser.find_elements(By.ID, "close-form")  # nothing to sign before review
        Select(form.find_element(By.NAME, "root_cause")).select_by_value("personnel")
        form.find_element(By.NAME, "root_cause_detail").send_keys("Transfer hatch left open")
        Select(form.find_element(By.NAME, "impact")).select_by_value("minor")
        form.find_element(By.NAME, "impact_assessment").send_keys(
            "No open product in grade A during the excursion (batch record checked)")
        form.find_element(By.NAME, "deviation").send_keys("DEV-2026-0412")
        form.find_element(By.NAME, "capa").send_keys("CAPA-2026-0087")
        form.find_element(By.ID, "review-submit").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#notice.ok")))

        sign = browser.find_element(By.ID, "close-form")
        assert "Quinn Quality" in sign.find_element(By.CLASS_NAME, "statement").text
        fits(browser)
        shot(browser, "qa-excursion-review.png")
        Select(sign.find_element(By.NAME, "meaning")).select_by_value("approved")
        sign.find_element(By.NAME, "comment").send_keys("Closed after retraining")
        sign.find_element(By.NAME, "password").send_keys("not my password")
        sign.find_element(By.ID, "close-submit").click()
        note = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#notice.error")))
        assert note.text
        assert not browser.find_elements(By.ID, "signature")  # a failed signature signs nothing
        sign = browser.find_element(By.ID, "close-form")
        assert sign.find_element(By.NAME, "comment").get_attribute("value") == (
            "Closed after retraining")
        assert sign.find_element(By.NAME, "password").get_attribute("value") == ""
        sign.find_element(By.NAME, "password").send_keys(PASSWORD)
        sign.find_element(By.ID, "close-submit").click()

        block = wait.until(ec.presence_of_element_located((By.ID, "signature")))
        assert browser.find_element(By.ID, "manifestation").text.startswith(
            "Quinn Quality (quinn) — approved — ")
        assert browser.find_element(By.ID, "signature-check").text == "verified"
        assert "Closed after retraining" in block.text
        assert block.is_displayed()
        assert browser.find_element(By.ID, "closed-note").text
        fits(browser)
        shot(browser, "qa-excursion-signed.png")
        browser.set_window_size(800, 1000)
        browser.refresh()
        wait.until(ec.presence_of_element_located((By.ID, "signature")))
        fits(browser)
        shot(browser, "narrow-qa-excursion.png", 800)
        browser.get(url + "/qa/excursions?status=all")
        wait.until(ec.presence_of_element_located((By.ID, f"exc-{exc_id}")))
        fits(browser)
        shot(browser, "narrow-qa-excursions.png", 800)
        problems = [e["message"] for e in browser.get_log("browser")
                    if e["level"] == "SEVERE" and EXPECTED_403 not in e["message"]]
        assert problems == []
    finally:
        browser.quit()


def _admin_adds_a_user(url: str) -> None:
    browser = _browser()
    try:
        wait = log_in(browser, url, "ada")
        browser.find_element(By.LINK_TEXT, "Users").click()
        form = wait.until(ec.presence_of_element_located((By.ID, "add-user-form")))
        fits(browser)
        form.find_element(By.NAME, "username").send_keys("nina")
        form.find_element(By.NAME, "full_name").send_keys("Nina New")
        form.find_element(By.CSS_SELECTOR, "input[name=roles][value=operator]").click()
        form.find_element(By.NAME, "password").send_keys("Temporary-Pass-77")
        form.find_element(By.NAME, "password2").send_keys("Temporary-Pass-77")
        form.find_element(By.NAME, "reason").send_keys("New starter, shift B")
        form.find_element(By.ID, "add-user").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#notice.ok")))
        facts = browser.find_element(By.ID, "user-facts").text
        assert "Nina New" in facts
        assert "must change password" in facts
        fits(browser)
        shot(browser, "user-detail.png")
        browser.find_element(By.LINK_TEXT, "Users").click()
        wait.until(ec.presence_of_element_located((By.ID, "user-nina")))
        shot(browser, "users.png")
        browser.set_window_size(800, 1000)
        browser.refresh()
        wait.until(ec.presence_of_element_located((By.ID, "user-nina")))
        fits(browser)
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        browser.quit()


async def test_qa_reviews_and_signs_off_in_the_browser(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as site:
        exc_id = await finished_excursion(site)
        await asyncio.to_thread(_qa_signs_off, site.url, exc_id)
        await asyncio.to_thread(_admin_adds_a_user, site.url)
        assert site.runtime.extras["users"].get("nina").full_name == "Nina New"
