"""An operator's shift in a real browser: log in, see the alarm, acknowledge it, see it change.

Debian's chromium runs headless, driven by selenium through Debian's
chromedriver (no browser download). The daemon polls simulators on this
test's event loop, so the blocking selenium session runs in a worker thread.
Screenshots go to ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.api.daemon import DP_ALARM, PASSWORD, running_daemon

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    pytest.fail(f"{' / '.join(names)} not installed: run `make test-deps` (Debian packages "
                "chromium and chromium-driver)", pytrace=False)


def _browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options,
                            service=ChromeService(executable_path=_binary("chromedriver")))


def _shift(url: str, alarm_id: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser = _browser()
    wait = WebDriverWait(browser, 15)
    try:
        browser.get(url + "/")
        wait.until(ec.presence_of_element_located((By.ID, "username")))
        assert "/login" in browser.current_url  # pages need a login
        browser.find_element(By.ID, "username").send_keys("olivia")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login").click()

        card = wait.until(ec.presence_of_element_located((By.ID, "loc-fill-1")))
        assert card.get_attribute("data-level") == "action"
        assert "level-action" in (card.get_attribute("class") or "")
        assert browser.find_element(By.ID, "current-user").text.startswith("Olivia Operator")
        dp_row = browser.find_element(By.ID, "ch-dp1-dp")
        assert "5.00" in dp_row.text
        assert "Pa" in dp_row.text
        browser.save_screenshot(str(ARTIFACTS / "overview-alarm.png"))

        browser.find_element(By.LINK_TEXT, "Alarms").click()
        row = wait.until(ec.presence_of_element_located((By.ID, f"alarm-{alarm_id}")))
        assert row.get_attribute("data-state") == "active_unack"
        assert "critical" in row.text
        form = row.find_element(By.CSS_SELECTOR, "form.ack-form")
        form.find_element(By.NAME, "reason").send_keys("Door to the airlock held open")
        form.find_element(By.NAME, "password").send_keys("not my password")
        form.find_element(By.CSS_SELECTOR, "button.ack-button").click()
        notice = wait.until(ec.presence_of_element_located((By.ID, "notice")))
        assert "error" in (notice.get_attribute("class") or "")
        row = browser.find_element(By.ID, f"alarm-{alarm_id}")
        # a failed signature changes nothing
        assert row.get_attribute("data-state") == "active_unack"

        form = row.find_element(By.CSS_SELECTOR, "form.ack-form")
        form.find_element(By.NAME, "reason").send_keys("Door to the airlock held open")
        form.find_element(By.NAME, "password").send_keys(PASSWORD)
        form.find_element(By.CSS_SELECTOR, "button.ack-button").click()
        notice = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#notice.ok")))
        assert f"Alarm {alarm_id} acknowledged" in notice.text
        row = browser.find_element(By.ID, f"alarm-{alarm_id}")
        assert row.get_attribute("data-state") == "active_ack"
        assert "active ack" in row.find_element(By.CLASS_NAME, "alarm-state").text
        assert not row.find_elements(By.CSS_SELECTOR, "form.ack-form")
        browser.save_screenshot(str(ARTIFACTS / "alarm-acknowledged.png"))

        browser.get(url + "/trend/dp1/dp?hours=1")
        chart = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#trend svg")))
        assert chart.find_elements(By.CSS_SELECTOR, ".limit-action")
        assert chart.find_elements(By.CSS_SELECTOR, ".series")
        browser.save_screenshot(str(ARTIFACTS / "trend-dp.png"))

        problems = [entry["message"] for entry in browser.get_log("browser")
                    if entry["level"] == "SEVERE"
                    and "acknowledge - Failed to load resource: the server responded with a "
                    "status of 403" not in entry["message"]]  # the wrong password, on purpose
        assert problems == []  # no script errors, no CSP violations, no missing files

        browser.find_element(By.ID, "logout").click()
        wait.until(ec.presence_of_element_located((By.ID, "username")))
        browser.get(url + "/alarms")
        wait.until(ec.presence_of_element_located((By.ID, "username")))
    finally:
        browser.quit()


async def test_operator_acknowledges_an_alarm_in_the_browser(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as site:
        alarm = await site.dp_alarm()
        await asyncio.to_thread(_shift, site.url, alarm.alarm_id)
        acked = [a for a in site.runtime.alarms.active() if a.point == DP_ALARM]
        assert acked[0].state == "active_ack"
