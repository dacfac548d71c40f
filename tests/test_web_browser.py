"""The web UI in a real browser: headless Chromium (selenium) against a real run of the CLI on
the demo API. Chromium reaches loopback only (a dead proxy, every other name unresolvable)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import pytest

from tests.web_helpers import Target, WebRun, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402

SCREENSHOT = os.environ.get("YAMLSWARM_WEB_SCREENSHOT")  # a path: also save a screenshot there


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="yamlswarm-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1100",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except Exception as exc:  # a browser that cannot start here is an environment problem
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless chromium does not start: {exc}")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def _points(driver, chart: str) -> int:
    return int(driver.find_element(By.ID, chart).get_attribute("data-points") or 0)


def _set(driver, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


# The page re-renders its tables every second: a cell found by one WebDriver call may be gone by
# the next (stale element), so the tables are read in one script, in one step of the page.
_ROW_NAMES = """
return Array.from(document.querySelectorAll('#stats tbody tr'),
                  row => row.cells.length > 1 ? row.cells[1].innerText : '');
"""
_METRIC_CELL = """
const cell = document.querySelector(`#metrics tr[data-metric='${arguments[0]}'] td.${arguments[1]}`);
return cell ? cell.innerText : '';
"""


def _row_names(driver) -> set[str]:
    return set(driver.execute_script(_ROW_NAMES))


def _severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_start_steer_and_stop_from_the_page(tmp_path, browser):
    target = Target()
    run = WebRun(tmp_path, target.url, "--autoquit", "3")
    try:
        browser.get(run.base + "/")
        wait_until(lambda: _text(browser, "state") == "ready")
        assert browser.find_element(By.ID, "start").text == "Start"
        time.sleep(1.0)
        before = target.requests()
        assert before == 0  # the page is up, the load waits for Start

        _set(browser, "user-count", "2")
        _set(browser, "spawn-rate", "50")
        browser.find_element(By.ID, "start").click()
        wait_until(lambda: target.requests() > 20)
        wait_until(lambda: target.connections() == 2)
        wait_until(lambda: _text(browser, "state") == "running")
        wait_until(lambda: _text(browser, "users") == "2")

        wait_until(lambda: {"/health", "products", "look"} <= _row_names(browser))
        first = wait_until(
            lambda: _points(browser, "chart-rps") >= 2 and _points(browser, "chart-rps")
        )
        wait_until(lambda: _points(browser, "chart-rps") > first, timeout=5)  # the charts move
        assert browser.find_elements(By.CSS_SELECTOR, "#chart-latency path[data-series='p99']")

        browser.find_element(By.CSS_SELECTOR, "#stats th[data-key='requests']").click()
        assert "sorted" in browser.find_element(
            By.CSS_SELECTOR, "#stats th[data-key='requests']"
        ).get_attribute("class")

        assert browser.find_element(By.ID, "start").text == "Apply"
        _set(browser, "user-count", "5")
        browser.find_element(By.ID, "start").click()
        wait_until(lambda: target.connections() == 5)
        wait_until(lambda: _text(browser, "users") == "5")
        if SCREENSHOT:
            time.sleep(4)  # a few more seconds on the charts
            browser.save_screenshot(SCREENSHOT)
        _set(browser, "user-count", "1")
        browser.find_element(By.ID, "start").click()
        wait_until(lambda: target.connections() == 1)

        assert _severe(browser) == []
        browser.find_element(By.ID, "stop").click()
        wait_until(lambda: _text(browser, "state") == "stopped")
        code, out, _ = run.finish()
        assert code == 0, out
        settled = target.requests()
        time.sleep(0.5)
        assert target.requests() == settled
        assert target.connections() == 0
    finally:
        run.kill()
        target.stop()


def test_the_page_asks_for_the_token_once(tmp_path, browser):
    target = Target()
    run = WebRun(tmp_path, target.url, "--token", "letmein", "--autoquit", "0")
    try:
        browser.get(run.base + "/")
        box = wait_until(lambda: browser.find_element(By.ID, "token-box").is_displayed() and 1)
        assert box
        browser.find_element(By.ID, "token").send_keys("letmein")
        browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
        wait_until(lambda: _text(browser, "state") == "ready")
        browser.refresh()  # entered once: kept for the session
        wait_until(lambda: _text(browser, "state") == "ready")
        assert not browser.find_element(By.ID, "token-box").is_displayed()
        assert _severe(browser) == []
        browser.find_element(By.ID, "start").click()
        wait_until(lambda: target.requests() > 5)
        browser.find_element(By.ID, "stop").click()
        assert run.finish()[0] == 0
    finally:
        run.kill()
        target.stop()


METRICS_SCENARIO = """
version: 1
name: webui-metrics
hooks: orders.py
metrics:
  orders_created: counter
  order_value: trend
  checkout_ok: rate
load: {users: 2, spawn_rate: 50}
users:
  - name: shopper
    wait: {constant: 100ms}
    flows:
      - name: buy
        steps:
          - call: place_order
thresholds:
  - "orders_created > 0"
"""

METRICS_HOOKS = """
def place_order(user):
    response = user.request("GET", "/health", name="order")
    user.metrics["checkout_ok"].add(response.status == 200)
    if response.status == 200:
        user.metrics["orders_created"].add(1)
        user.metrics["order_value"].add(10 + 90 * user.rng.random())
"""


def _metric_cell(driver, name: str, column: str) -> str:
    return str(driver.execute_script(_METRIC_CELL, name, column)).strip()


def test_the_custom_metrics_panel_fills_during_a_run(tmp_path, browser):
    (tmp_path / "orders.py").write_text(METRICS_HOOKS.lstrip(), encoding="utf-8")
    target = Target()
    run = WebRun(
        tmp_path, target.url, "--autostart", "-t", "5s", "--autoquit", "2",
        scenario=METRICS_SCENARIO,
    )  # fmt: skip
    try:
        browser.get(run.base + "/")
        wait_until(lambda: browser.find_element(By.ID, "metrics-box").is_displayed())
        first = wait_until(lambda: int(_metric_cell(browser, "orders_created", "value") or 0))
        wait_until(lambda: int(_metric_cell(browser, "orders_created", "value") or 0) > first)
        assert _metric_cell(browser, "checkout_ok", "value") == "100%"
        assert _metric_cell(browser, "order_value", "value").startswith("mean ")
        assert "passes" in _metric_cell(browser, "checkout_ok", "details")
        live = run.json("GET", "/api/result")["metrics"]
        assert live["orders_created"]["kind"] == "counter" and live["orders_created"]["value"] > 0
        status, _, body = run.request("GET", "/metrics")
        assert status == 200
        assert (
            b'yamlswarm_metric_orders_created_total{kind="counter",metric="orders_created"' in body
        )
        assert b"# TYPE yamlswarm_metric_order_value summary" in body
        assert _severe(browser) == []
        wait_until(lambda: _text(browser, "state") == "stopped", timeout=15)
        code, out, _ = run.finish()
        assert code == 0, out
        final = json.loads(run.json_path.read_text())["metrics"]
        # the panel ends on the result's numbers
        assert _metric_cell(browser, "orders_created", "value") == str(
            final["orders_created"]["value"]
        )
        assert final["checkout_ok"]["passes"] == final["orders_created"]["value"] > first
    finally:
        run.kill()
        target.stop()
