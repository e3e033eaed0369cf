"""The dashboard in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, which `make test` installs) driven by Selenium, against a real
`deployledger serve` process, on both backends, at 1280x800.

Each test logs in through the form, loads pages, checks what a person sees, and saves a
screenshot under tests/e2e/screenshots/ (git-ignored). With DEPLOYLEDGER_DOCS_SCREENSHOTS=1
the fleet, failures and stats pages (SQLite) are also saved into docs/, the pictures the
docs show. Without Chromium these tests skip, except with CI=true, where they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from dashboard_data import (
    BOUND_TENANT,
    HOSTILE,
    HOSTILE_NAME,
    LATE_NEW,
    LATE_OLD,
    SPOOF_FAILED,
    SPOOF_PENDING,
    SPOOF_TENANT,
    XSS_RT_ID,
    XSS_TENANT,
    Seeded,
    seeded_store,
)
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from support import EXAMPLE_RT_ID, EXAMPLE_TENANT, cli_args, cli_env

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1280, 800
SCREENSHOTS = Path(__file__).parent / "screenshots"
DOCS = Path(__file__).parents[2] / "docs"
# What a sender could use to spoof what on-call reads: never in the page as it is.
RAW = ("\u202e", "\u202c", "\x1b", "\x07")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
COOKIE = "deployledger_token"


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    admin_dsn = None if request.param == "sqlite" else request.getfixturevalue("postgres_admin_dsn")
    with seeded_store(request.param, tmp_path_factory.mktemp("dashb"), admin_dsn) as store:
        yield store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`deployledger serve` on a free loopback port; its base URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    argv = cli_args("serve", "--port", str(port), "--no-access-log", store=seeded.url)
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=cli_env(), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium with a 1280x800 viewport."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        reason = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
        if IN_CI:
            pytest.fail(f"CI=true requires the browser: {reason}", pytrace=False)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root, in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def web(browser: WebDriver, server: str) -> WebDriver:
    """The browser, logged out (its cookies of the server cleared)."""
    browser.get(f"{server}/static/dashboard.css")
    browser.delete_all_cookies()
    return browser


def shot(driver: WebDriver, seeded: Seeded, name: str, *, docs: bool = False) -> None:
    """A screenshot under tests/e2e/screenshots/; for `docs`, with SQLite and
    DEPLOYLEDGER_DOCS_SCREENSHOTS=1, also as docs/dashboard-NAME.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    backend = "sqlite" if seeded.url.startswith("sqlite") else "postgres"
    assert driver.save_screenshot(str(SCREENSHOTS / f"{backend}-{name}.png"))
    if docs and backend == "sqlite" and os.environ.get("DEPLOYLEDGER_DOCS_SCREENSHOTS") == "1":
        assert driver.save_screenshot(str(DOCS / f"dashboard-{name}.png"))


def log_in(driver: WebDriver, server: str, token: str, path: str = "/") -> None:
    """Open `path`, land on the login form, and log in through it."""
    driver.get(server + path)
    where = urlsplit(driver.current_url)
    assert where.path == "/login"
    assert parse_qs(where.query)["next"] == [path]
    field = driver.find_element(By.ID, "token")
    assert field.get_attribute("type") == "password"
    field.send_keys(token)
    field.submit()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path != "/login")


def rows(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "table.fleet tbody tr")


def overdue_ids(driver: WebDriver) -> list[str]:
    """The runtime ids the overdue table links to, in its order."""
    found = []
    for link in driver.find_elements(By.CSS_SELECTOR, "table.overdue tbody a"):
        href = link.get_attribute("href")
        assert href is not None
        found.append(href.rsplit("/", 1)[1])
    return found


def fits(driver: WebDriver) -> None:
    """Readable at 1280x800: nothing wider than the viewport, no horizontal scrolling."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= WIDTH
    viewport = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    assert viewport == [WIDTH, HEIGHT]


def no_alert(driver: WebDriver) -> None:
    try:
        WebDriverWait(driver, 1.5).until(expected_conditions.alert_is_present())
    except TimeoutException:
        return
    text = driver.switch_to.alert.text
    driver.switch_to.alert.dismiss()
    pytest.fail(f"a script ran in the page: alert({text!r})")


class TestBrowser:
    def test_log_in_through_the_form_and_see_the_fleet(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.admin)
        assert urlsplit(web.current_url).path == "/"
        assert web.title == "Fleet · deployledger"
        shown = [
            (r.get_attribute("data-state"), r.find_element(By.CSS_SELECTOR, "td").text)
            for r in rows(web)
        ]
        assert shown == [(w.state.label, w.tenant_id) for w in seeded.fleet]
        colours = {
            r.get_attribute("data-state"): r.value_of_css_property("border-left-color")
            for r in rows(web)
        }
        assert len(set(colours.values())) == 4  # one colour per state
        count = web.find_element(By.CSS_SELECTOR, "a.count[data-state='Error'] b").text
        assert int(count) == sum(1 for w in seeded.fleet if w.state.label == "Error")

        cookie = web.get_cookie(COOKIE)
        assert cookie is not None
        assert cookie["value"] == seeded.admin
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["secure"] is False  # plain http on loopback
        assert COOKIE not in web.execute_script("return document.cookie")
        fits(web)
        shot(web, seeded, "fleet", docs=True)

    def test_the_state_filter_applies_on_change(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.admin)
        Select(web.find_element(By.NAME, "state")).select_by_value("error")  # no button click
        WebDriverWait(web, 10).until(lambda d: "state=error" in d.current_url)
        states = {r.get_attribute("data-state") for r in rows(web)}
        assert states == {"Error"}
        web.find_element(By.NAME, "tenant").send_keys("initech")
        web.find_element(By.CSS_SELECTOR, "form.filters button").click()
        WebDriverWait(web, 10).until(lambda d: "tenant=initech" in d.current_url)
        assert [r.find_element(By.CSS_SELECTOR, "td").text for r in rows(web)] == [
            w.tenant_id for w in seeded.of("initech") if w.state.label == "Error"
        ]
        shot(web, seeded, "fleet-filtered")

    def test_a_workload_its_strip_and_its_timeline(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.admin)
        href = f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}"
        web.find_element(By.CSS_SELECTOR, f"a[href='{href}']").click()
        WebDriverWait(web, 10).until(lambda d: urlsplit(d.current_url).path == href)
        state = next(w for w in seeded.fleet if w.workload_rt_id == EXAMPLE_RT_ID)
        assert state.workload_name
        assert state.workload_name in web.find_element(By.TAG_NAME, "h1").text
        cells = web.find_elements(By.CSS_SELECTOR, "svg.strip rect")
        assert len(cells) == state.attempts
        failed = web.find_elements(By.CSS_SELECTOR, "svg.strip rect.failed")
        assert len(failed) == state.failures
        assert all(c.size["width"] >= 6 for c in cells)
        kinds = {
            e.get_attribute("data-kind") for e in web.find_elements(By.CSS_SELECTOR, "li.entry")
        }
        assert {"request", "progress", "outcome"} <= kinds
        message = web.find_element(By.CSS_SELECTOR, "li.outcome.failed pre.message")
        assert message.is_displayed()
        assert "failed with exit code" in message.text
        fits(web)
        shot(web, seeded, "workload")

    def test_a_hostile_message_is_text_and_never_runs(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        # The check itself: an alert in the page is seen, and fails the test.
        web.get(f"{server}/login")
        web.execute_script("setTimeout(() => alert('probe'), 10)")
        with pytest.raises(pytest.fail.Exception, match="probe"):
            no_alert(web)

        log_in(web, server, seeded.admin, f"/workloads/{XSS_TENANT}/{XSS_RT_ID}")
        no_alert(web)
        shown = [
            pre.text
            for pre in web.find_elements(By.CSS_SELECTOR, "pre.message")
            if pre.is_displayed()
        ]
        assert HOSTILE in shown
        assert HOSTILE_NAME in web.find_element(By.TAG_NAME, "h1").text
        assert not web.find_elements(By.CSS_SELECTOR, "h1 i, main script")
        with pytest.raises(NoAlertPresentException):
            web.switch_to.alert.text  # noqa: B018 - raises when no alert is open
        shot(web, seeded, "hostile")

        web.get(f"{server}/?tenant={XSS_TENANT}")
        no_alert(web)
        assert HOSTILE_NAME in web.find_element(By.CSS_SELECTOR, "table.fleet").text

    def test_the_overdue_list_and_its_filter(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.admin, "/overdue")
        found = overdue_ids(web)
        assert LATE_OLD in found
        assert LATE_NEW not in found  # 5 minutes old: under the default 15m
        field = web.find_element(By.NAME, "older_than")
        field.clear()
        field.send_keys("1m")
        field.submit()
        WebDriverWait(web, 10).until(lambda d: "older_than=1m" in d.current_url)
        found = overdue_ids(web)
        assert found.index(LATE_OLD) < found.index(LATE_NEW)
        fits(web)
        shot(web, seeded, "overdue")

    def test_a_tenant_token_sees_its_tenant_only(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.bound)
        tenants = {r.find_element(By.CSS_SELECTOR, "td").text for r in rows(web)}
        assert tenants == {BOUND_TENANT}
        assert len(rows(web)) == len(seeded.of(BOUND_TENANT))
        shot(web, seeded, "fleet-tenant")
        other = seeded.of("globex")[0]
        web.get(f"{server}/workloads/globex/{other.workload_rt_id}")
        assert "404" in web.find_element(By.TAG_NAME, "h1").text
        assert other.workload_name
        assert other.workload_name not in web.find_element(By.TAG_NAME, "main").text

    def test_the_login_refuses_a_token_without_read(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        web.get(f"{server}/login")
        field = web.find_element(By.ID, "token")
        field.send_keys(seeded.write_only)
        field.submit()
        alert = WebDriverWait(web, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "p.problem"))
        assert "has no read scope" in alert.text
        assert urlsplit(web.current_url).path == "/login"
        assert web.get_cookie(COOKIE) is None
        shot(web, seeded, "login-no-read")

    def test_a_wrong_token_stays_on_the_form_and_logout_ends_the_session(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        web.get(f"{server}/login")
        field = web.find_element(By.ID, "token")
        field.send_keys(seeded.revoked)
        field.submit()
        alert = WebDriverWait(web, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "p.problem"))
        assert "malformed, unknown or revoked" in alert.text
        assert web.get_cookie(COOKIE) is None
        shot(web, seeded, "login-refused")

        log_in(web, server, seeded.admin)
        web.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        WebDriverWait(web, 10).until(lambda d: urlsplit(d.current_url).path == "/login")
        assert "logged out" in web.find_element(By.CSS_SELECTOR, "p.note").text
        assert web.get_cookie(COOKIE) is None
        web.get(f"{server}/")
        assert urlsplit(web.current_url).path == "/login"


class TestOnCall:
    def test_the_failures_page_groups_and_links_to_the_workloads(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.admin)
        web.find_element(By.LINK_TEXT, "Failures").click()
        WebDriverWait(web, 10).until(lambda d: urlsplit(d.current_url).path == "/failures")
        groups = web.find_elements(By.CSS_SELECTOR, "li.group")
        assert groups  # the failures recorded just now, in the last 24 hours
        attempts = [int(g.find_element(By.CSS_SELECTOR, "b.attempts").text) for g in groups]
        assert attempts == sorted(attempts, reverse=True)
        assert all(g.find_element(By.CSS_SELECTOR, "a.chip").is_displayed() for g in groups)
        fits(web)
        shot(web, seeded, "failures", docs=True)

        Select(web.find_element(By.NAME, "since")).select_by_value("all")  # applies on change
        WebDriverWait(web, 10).until(lambda d: "since=all" in d.current_url)
        assert len(web.find_elements(By.CSS_SELECTOR, "li.group")) > len(groups)
        link = web.find_element(By.CSS_SELECTOR, "li.group dd.affected a")
        target = link.get_attribute("href")
        assert target is not None
        link.click()
        WebDriverWait(web, 10).until(lambda d: d.current_url == target)
        assert web.find_elements(By.CSS_SELECTOR, "li.outcome.failed p.failure a.fingerprint")

    def test_the_stats_page_draws_its_bars_on_the_server(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.admin, "/stats")
        charts = web.find_elements(By.CSS_SELECTOR, "figure.chart svg.bars")
        assert len(charts) == 6
        bars = web.find_elements(By.CSS_SELECTOR, "svg.bars rect.ok, svg.bars rect.failed")
        assert any(bar.size["height"] > 0 for bar in bars)
        # Nothing but this server's page and stylesheet was loaded.
        loaded = web.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert all(name.startswith(server) for name in loaded), loaded
        fits(web)
        shot(web, seeded, "stats", docs=True)
        Select(web.find_element(By.NAME, "by")).select_by_value("pool")
        WebDriverWait(web, 10).until(lambda d: "by=pool" in d.current_url)
        assert "Deployments per pool" in web.find_element(By.TAG_NAME, "main").text

    def test_a_bidi_or_ansi_message_renders_escaped(
        self, web: WebDriver, server: str, seeded: Seeded
    ) -> None:
        log_in(web, server, seeded.admin, f"/?tenant={SPOOF_TENANT}")
        for path in (
            f"/?tenant={SPOOF_TENANT}",
            f"/workloads/{SPOOF_TENANT}/{SPOOF_FAILED}",
            f"/workloads/{SPOOF_TENANT}/{SPOOF_PENDING}",
            "/failures",
        ):
            web.get(server + path)
            text = web.find_element(By.TAG_NAME, "main").text
            source = web.page_source
            for raw in RAW:
                assert raw not in text, (path, raw)
                assert raw not in source, (path, raw)
            assert "\\u202elive\\u202c" in text, path  # "live", never shown as "evil"
        web.get(f"{server}/workloads/{SPOOF_TENANT}/{SPOOF_FAILED}")
        assert "\\x1b[31mfailed\\x1b[0m" in web.find_element(By.CSS_SELECTOR, "pre.message").text
        shot(web, seeded, "spoof")
