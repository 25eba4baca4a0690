"""An operator's shift in a real browser: log in, see the alarm, acknowledge it, see it change.

Debian's chromium runs headless, driven by selenium through Debian's
chromedriver (no browser download). The daemon polls simulators on this
test's event loop, so the blocking selenium session runs in a worker thread.
Screenshots go to ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.api.daemon import DP_ALARM, PASSWORD, running_daemon

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")
PLAIN_NUMBER = re.compile(r"-?\d{1,3}(,\d{3})*(\.\d+)?")


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    pytest.fail(f"{' / '.join(names)} not installed: run `make test-deps` (Debian packages "
                "chromium and chromium-driver)", pytrace=False)


def _browser(width: int = 1400, height: int = 1000) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--lang=en-US"):
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
        assert row.find_element(By.CLASS_NAME, "alarm-state").text.split() == [
            "active", "acknowledged"]
        assert not row.find_elements(By.CSS_SELECTOR, "form.ack-form")
        browser.save_screenshot(str(ARTIFACTS / "alarm-acknowledged.png"))

        browser.get(url + "/trend/dp1/dp?hours=1")
        chart = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#trend svg")))
        assert chart.find_elements(By.CSS_SELECTOR, ".limit-action")
        assert chart.find_elements(By.CSS_SELECTOR, ".series")
        _check_axis_and_legend(browser, chart)
        tip = _hover_newest_bucket(browser, chart)
        assert re.search(r"^mean \d+\.\d\d Pa$", tip, re.MULTILINE), tip  # 5 Pa: "5.00 Pa"
        assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d – \d\d:\d\d:\d\d UTC$", tip,
                         re.MULTILINE), tip
        assert not SCIENTIFIC.search(tip), tip
        browser.save_screenshot(str(ARTIFACTS / "trend-dp.png"))

        browser.get(url + "/trend/pc1/p0_5um?hours=1")
        chart = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#trend svg")))
        labels = {e.text for e in chart.find_elements(By.CSS_SELECTOR, "text.limit-label")}
        assert labels == {"action limit 3,520", "alert limit 1,760"}  # grade A preset, 0.5
        _check_axis_and_legend(browser, chart)
        unit = chart.find_element(By.CSS_SELECTOR, "text.unit")
        assert unit.text == "particles/m³"
        top_tick = min(chart.find_elements(By.CSS_SELECTOR, "text.y-tick"),
                       key=lambda e: e.rect["y"])
        assert unit.rect["y"] + unit.rect["height"] <= top_tick.rect["y"]  # no overlap
        assert "action ≤ 3,520" in browser.find_element(By.ID, "trend").text
        browser.save_screenshot(str(ARTIFACTS / "trend-particles.png"))

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


def _check_axis_and_legend(browser: WebDriver, chart: WebElement) -> None:
    """Axis labels in plain grouped numbers; a legend that names every kind of shading."""
    labels = [e.text for e in chart.find_elements(By.CSS_SELECTOR, "text.y-tick")]
    assert len(labels) >= 2
    assert all(PLAIN_NUMBER.fullmatch(label) for label in labels), labels
    legend = browser.find_element(By.ID, "trend-legend")
    for key in ("gap", "maintenance", "excursion", "nodata", "limit-action", "limit-alert"):
        assert legend.find_element(By.ID, f"legend-{key}").text
    assert "no data" in legend.text


def _hover_newest_bucket(browser: WebDriver, chart: WebElement) -> str:
    """Point at the newest bucket with a value (a real mouse move) and read the tooltip."""
    data = json.loads(browser.find_element(By.ID, "trend-data").get_attribute("textContent")
                      or "{}")
    x, y, _ = [b for b in data["buckets"] if b[1] is not None][-1]
    scale = chart.rect["width"] / data["width"]
    ActionChains(browser).move_to_element_with_offset(
        chart, round(x * scale - chart.rect["width"] / 2),
        round(y * scale - chart.rect["height"] / 2)).perform()
    tip = WebDriverWait(browser, 5).until(
        ec.visibility_of_element_located((By.ID, "chart-tip")))
    assert "hovering" in (chart.get_attribute("class") or "")
    return str(tip.text)


def _narrow_anonymous_view(url: str) -> None:
    """What a tablet on the shop floor shows without a login (open_read): 800 px wide."""
    ARTIFACTS.mkdir(exist_ok=True)
    browser = _browser(800, 1000)
    wait = WebDriverWait(browser, 15)
    try:
        browser.get(url + "/")
        wait.until(ec.presence_of_element_located((By.ID, "loc-fill-1")))
        link = browser.find_element(By.ID, "login-link")
        nav = browser.find_element(By.CSS_SELECTOR, "header nav a:not(.active)")
        for prop in ("color", "text-decoration-line", "font-size"):  # not blue, underlined
            assert link.value_of_css_property(prop) == nav.value_of_css_property(prop), prop
        assert link.value_of_css_property("text-decoration-line") == "none"
        row = browser.find_element(By.ID, "ch-pc1-p0_5um")
        assert "particles/m³" in row.text
        assert "alert ≤ 1,760, action ≤ 3,520" in row.text
        assert "°C" in browser.find_element(By.ID, "ch-th1-temperature").text
        body = browser.find_element(By.TAG_NAME, "main").text
        assert "degC" not in body
        assert "/m3" not in body
        assert not SCIENTIFIC.search(body)
        for path in ("/", "/alarms", "/trend/pc1/p0_5um?hours=1"):
            browser.get(url + path)
            wait.until(ec.presence_of_element_located((By.TAG_NAME, "main")))
            width = browser.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], (path, width)  # nothing runs off to the side
            name = path.strip("/").split("?")[0].replace("/", "-") or "overview"
            browser.save_screenshot(str(ARTIFACTS / f"narrow-{name}.png"))
        browser.get(url + "/alarms")
        row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#alarm-table tr")))
        assert "10 Pa" in browser.find_element(By.ID, "alarm-table").text  # the DP action limit
        assert browser.find_element(By.CSS_SELECTOR, ".notice.info").text.startswith("Log in")
    finally:
        browser.quit()


async def test_operator_acknowledges_an_alarm_in_the_browser(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as site:
        alarm = await site.dp_alarm()
        await asyncio.to_thread(_shift, site.url, alarm.alarm_id)
        acked = [a for a in site.runtime.alarms.active() if a.point == DP_ALARM]
        assert acked[0].state == "active_ack"


async def test_pages_read_well_on_a_narrow_screen_without_login(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, http={"open_read": "true"}) as site:
        await site.dp_alarm()
        await asyncio.to_thread(_narrow_anonymous_view, site.url)
