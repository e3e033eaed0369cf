"""The dashboard's pages through the real app (`create_app`), on both backends: what each
page shows, the login and its cookie, tenant isolation, scopes, and escaping.

The browser tests (test_dashboard_browser.py) load the same pages in headless Chromium.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from dashboard_data import (
    BOUND_TENANT,
    HOSTILE,
    HOSTILE_NAME,
    LATE_NEW,
    LATE_OLD,
    LATE_PROGRESS,
    LATE_TENANT,
    SPOOF_FAILED,
    SPOOF_MESSAGE,
    SPOOF_PENDING,
    SPOOF_TENANT,
    XSS_RT_ID,
    XSS_TENANT,
    Node,
    Seeded,
    parse_html,
    seeded_store,
)
from fastapi.testclient import TestClient
from httpx2 import Response  # what the TestClient answers (starlette picks httpx2)
from support import EXAMPLE_RT_ID, EXAMPLE_TENANT

from deployledger import FAILURE_CATEGORIES, Attempt, Ledger, WorkloadState, presentation
from deployledger.http import ServeSettings, create_app
from deployledger.http.dashboard.pages import format_duration

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
COOKIE = "deployledger_token"


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """One seeded store per backend for the module (the pages only read it)."""
    admin_dsn = None if request.param == "sqlite" else request.getfixturevalue("postgres_admin_dsn")
    with seeded_store(request.param, tmp_path_factory.mktemp("dash"), admin_dsn) as store:
        yield store


@pytest.fixture(scope="module")
def app_client(seeded: Seeded) -> Iterator[TestClient]:
    app = create_app(ServeSettings(store=seeded.url, follow=False))
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The app's client with no cookie."""
    app_client.cookies.clear()
    return app_client


def get(client: TestClient, path: str, token: str | None) -> Response:
    """GET a page, with `token` as the login cookie."""
    client.cookies.clear()
    if token is not None:
        client.cookies.set(COOKIE, token)
    response = client.get(path)
    client.cookies.clear()
    return response


def page(client: TestClient, path: str, token: str | None, status: int = 200) -> Node:
    response = get(client, path, token)
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    return parse_html(response.text)


def fleet_rows(doc: Node) -> list[tuple[str, str, str]]:
    """(tenant, workload rt id, state) of each row of the fleet table."""
    rows = []
    for tr in doc.find("table", "fleet").find("tbody").find_all("tr"):
        link = tr.find("a")
        rt_id = link.attrs["href"].rsplit("/", 1)[1]
        rows.append((tr.find("td", "c-tenant").text, rt_id, tr.attrs["data-state"]))
    return rows


def counts(doc: Node) -> dict[str, int]:
    found = {}
    for a in doc.find("ul", "counts").find_all("a"):
        label = a.attrs.get("data-state", "All")
        found[label] = int(a.find("b").text)
    return found


def expected_rows(seeded: Seeded, tenant: str | None = None) -> list[tuple[str, str, str]]:
    fleet = seeded.fleet if tenant is None else seeded.of(tenant)
    return [(w.tenant_id, w.workload_rt_id, w.state.label) for w in fleet]


class TestFleet:
    def test_every_workload_is_a_row_coloured_by_its_state_with_counts(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/", seeded.admin)
        assert fleet_rows(doc) == expected_rows(seeded)
        for tr in doc.find("table", "fleet").find("tbody").find_all("tr"):
            assert f"state-{tr.attrs['data-state'].lower()}" in tr.classes
        by_state = Counter(w.state.label for w in seeded.fleet)
        assert counts(doc) == {
            "All": len(seeded.fleet),
            **{label: by_state[label] for label in ("Deployed", "Pending", "Error", "Undeployed")},
        }
        assert set(by_state) == {"Deployed", "Pending", "Error", "Undeployed"}

    def test_a_row_shows_name_pool_chart_attempts_and_reason(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, f"/?tenant={EXAMPLE_TENANT}", seeded.admin)
        state = next(w for w in seeded.of(EXAMPLE_TENANT) if w.workload_rt_id == EXAMPLE_RT_ID)
        link = doc.find("a", href=f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}")
        tr = next(tr for tr in doc.find("tbody").find_all("tr") if link in tr.find_all("a"))
        cells = [td.text.strip() for td in tr.find_all("td")]
        assert cells[1] == state.workload_name
        assert cells[2] == state.pool_name
        assert state.state.label in cells[3]
        assert cells[5:8] == [
            str(state.attempts),
            str(state.failures),
            str(state.consecutive_failures),
        ]

    @pytest.mark.parametrize(
        ("query", "keep"),
        [
            ("tenant=globex", lambda w: w.tenant_id == "globex"),
            ("pool=pool-us-east-2", lambda w: w.pool_name == "pool-us-east-2"),
            ("state=error", lambda w: w.state.label == "Error"),
            (
                "state=Pending&tenant=acme-prod",
                lambda w: w.state.label == "Pending" and w.tenant_id == "acme-prod",
            ),
        ],
    )
    def test_filters_narrow_the_rows(
        self,
        client: TestClient,
        seeded: Seeded,
        query: str,
        keep: Callable[[WorkloadState], bool],
    ) -> None:
        doc = page(client, f"/?{query}", seeded.admin)
        wanted = [(w.tenant_id, w.workload_rt_id, w.state.label) for w in seeded.fleet if keep(w)]
        assert wanted
        assert fleet_rows(doc) == wanted
        form = doc.find("form", "filters")
        values = {i.attrs["name"]: i.attrs.get("value", "") for i in form.find_all("input")}
        for key, value in parse_qs(query).items():
            if key == "state":
                chosen = form.find("select", name="state").find("option", selected="")
                assert chosen.attrs["value"] == value[0].lower()
            else:
                assert values[key] == value[0]

    def test_counts_follow_tenant_and_pool_but_not_the_state_filter(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/?tenant=acme-prod&state=deployed", seeded.admin)
        mine = Counter(w.state.label for w in seeded.of("acme-prod"))
        found = counts(doc)
        assert found["All"] == len(seeded.of("acme-prod"))
        assert all(found[label] == mine[label] for label in mine)
        assert "current" in doc.find("a", data_state="Deployed").classes

    def test_a_filter_matching_nothing_says_so(self, client: TestClient, seeded: Seeded) -> None:
        doc = page(client, "/?pool=no-such-pool", seeded.admin)
        assert not doc.find_all("table", "fleet")
        assert "No workload matches these filters" in doc.find("p", "empty").text

    def test_an_unknown_state_is_a_400_page(self, client: TestClient, seeded: Seeded) -> None:
        doc = page(client, "/?state=sideways", seeded.admin, status=400)
        assert "unknown state 'sideways'" in doc.find("section", "error").text


class TestWorkload:
    def test_the_summary_the_strip_and_the_whole_timeline(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        with Ledger.open(seeded.url) as ledger:
            state = ledger.get(EXAMPLE_TENANT, EXAMPLE_RT_ID)
            timeline = ledger.timeline(EXAMPLE_TENANT, EXAMPLE_RT_ID)
        doc = page(client, f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}", seeded.admin)
        assert state.workload_name
        assert state.workload_name in doc.find("h1").text
        assert state.state.label in doc.find("h1").text
        summary = doc.find("section", "summary").text
        assert f"{state.attempts} ({state.failures} failed" in summary
        assert f"{state.deployed_chart_name} {state.deployed_chart_version}" in summary

        outcomes = [e for e in reversed(timeline) if isinstance(e, Attempt)]  # oldest first
        cells = doc.find("svg", "strip").find_all("rect")
        assert [c.attrs["data-attempt"] for c in cells] == [str(a.attempt) for a in outcomes]
        for cell, attempt in zip(cells, outcomes, strict=True):
            assert ("ok" if attempt.success else "failed") in cell.classes
        assert {"ok", "failed"} <= {cls for cell in cells for cls in cell.classes}

        entries = doc.find("ol", "entries").find_all("li")
        assert [li.attrs["id"] for li in entries] == [f"e-{e.position}" for e in timeline]
        assert [li.attrs["data-kind"] for li in entries] == [e.kind for e in timeline]
        assert {"request", "progress", "outcome"} <= {e.kind for e in timeline}
        for li, entry in zip(entries, timeline, strict=True):
            text = li.text
            if isinstance(entry, Attempt):
                assert f"attempt {entry.attempt}" in text
                if entry.status_message:
                    assert li.find("pre").text == entry.status_message
                if entry.exit_code is not None:
                    assert f"exit code {entry.exit_code}" in text
                    assert f"helm {entry.helm_operation}" in text
                if entry.duration is not None:
                    assert f"took {format_duration(entry.duration)}" in text
            elif entry.kind == "request":
                assert f"chart {entry.chart_name} {entry.chart_version}" in text
                assert any(
                    note in text for note in ("first request", "values changed", "values unchanged")
                )
                assert entry.values_digest
                assert entry.values_digest in text
            elif entry.kind == "progress":
                assert li.find("pre").text == entry.message

    def test_a_failure_shows_helm_operation_exit_code_and_the_full_message(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        with Ledger.open(seeded.url) as ledger:
            history = ledger.history(EXAMPLE_TENANT, EXAMPLE_RT_ID)
        failed = next(a for a in history if a.exit_code is not None)
        assert failed.status_message
        assert len(failed.status_message) > 200  # more than a headline
        doc = page(client, f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}", seeded.admin)
        li = doc.find("li", id=f"e-{failed.position}")
        assert "failed" in li.classes
        assert f"exit code {failed.exit_code}" in li.text
        assert f"helm {failed.helm_operation}" in li.text
        assert li.find("pre").text == failed.status_message

    def test_an_undeploy_is_in_the_timeline(self, client: TestClient, seeded: Seeded) -> None:
        doc = page(client, "/workloads/globex/651c7f0e9a3b2c0021d4e6a7", seeded.admin)
        undeploys = doc.find_all("li", data_kind="undeploy")
        assert len(undeploys) == 1
        assert "Undeployed" in doc.find("h1").text

    def test_an_unknown_workload_is_a_404_page(self, client: TestClient, seeded: Seeded) -> None:
        doc = page(client, "/workloads/acme-prod/000000000000000000000000", seeded.admin, 404)
        assert "No workload acme-prod/000000000000000000000000" in doc.text

    def test_a_long_timeline_shows_a_page_and_a_link_to_more(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}?limit=3", seeded.admin)
        assert len(doc.find("ol", "entries").find_all("li")) == 3
        more = doc.find("section", "timeline").find("p", "note")
        assert "older messages are not shown" in more.text
        assert more.find("a").attrs["href"] == "?limit=6"


class TestOverdue:
    def rows(self, doc: Node) -> list[str]:
        tables = doc.find_all("table", "overdue")
        if not tables:
            return []
        return [a.attrs["href"].rsplit("/", 1)[1] for a in tables[0].find("tbody").find_all("a")]

    def test_the_older_than_filter(self, client: TestClient, seeded: Seeded) -> None:
        default = self.rows(page(client, f"/overdue?tenant={LATE_TENANT}", seeded.admin))
        hour = self.rows(page(client, f"/overdue?tenant={LATE_TENANT}&older_than=1h", seeded.admin))
        minute = self.rows(
            page(client, f"/overdue?tenant={LATE_TENANT}&older_than=1m", seeded.admin)
        )
        three_hours = page(client, f"/overdue?tenant={LATE_TENANT}&older_than=3h", seeded.admin)
        assert default == [LATE_OLD]
        assert hour == [LATE_OLD]
        assert minute == [LATE_OLD, LATE_NEW]  # oldest request first
        assert self.rows(three_hours) == []
        assert "longer than 3h" in three_hours.find("p", "empty").text

    def test_a_row_shows_chart_age_and_last_progress(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, f"/overdue?tenant={LATE_TENANT}", seeded.admin)
        cells = [td.text.strip() for td in doc.find("tbody").find("tr").find_all("td")]
        assert cells[:4] == [LATE_TENANT, "late-app", "pool-rt-1", "late-chart 1.0.0"]
        assert cells[5] in ("2h", "2h 0m") or cells[5].startswith("2h")
        assert cells[6] == LATE_PROGRESS

    def test_every_tenant_without_a_filter(self, client: TestClient, seeded: Seeded) -> None:
        with Ledger.open(seeded.url) as ledger:
            expected = [o.workload_rt_id for o in ledger.overdue()]
        assert LATE_OLD in expected
        assert self.rows(page(client, "/overdue", seeded.admin)) == expected

    def test_a_bad_duration_is_a_400_page(self, client: TestClient, seeded: Seeded) -> None:
        doc = page(client, "/overdue?older_than=soon", seeded.admin, status=400)
        assert "'soon' is not a duration" in doc.find("section", "error").text


class TestLogin:
    @pytest.mark.parametrize(
        "path", ["/", "/overdue?older_than=1h", f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}"]
    )
    def test_a_page_without_a_token_redirects_to_the_login(
        self, client: TestClient, path: str
    ) -> None:
        response = get(client, path, None)
        assert response.status_code == 303
        target = urlsplit(response.headers["location"])
        assert target.path == "/login"
        assert parse_qs(target.query)["next"] == [path]

    def test_the_form_posts_the_token_into_a_strict_httponly_cookie(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/login?next=/overdue", None)
        form = doc.find("form", action="/login")
        assert form.attrs["method"] == "post"
        assert form.find("input", name="token").attrs["type"] == "password"
        assert form.find("input", name="next").attrs["value"] == "/overdue"

        response = client.post("/login", data={"token": seeded.admin, "next": "/overdue"})
        assert response.status_code == 303
        assert response.headers["location"] == "/overdue"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={seeded.admin};")
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        assert "secure" not in attributes  # plain http: a Secure cookie would never come back
        assert client.get("/overdue").status_code == 200  # the client keeps the cookie

    def test_over_https_the_cookie_is_secure(self, seeded: Seeded) -> None:
        app = create_app(ServeSettings(store=seeded.url, follow=False))
        with TestClient(app, base_url="https://dash.test", follow_redirects=False) as client:
            response = client.post("/login", data={"token": seeded.admin})
            assert response.status_code == 303
            attributes = {p.strip().lower() for p in response.headers["set-cookie"].split(";")}
            assert {"secure", "httponly", "samesite=strict"} <= attributes

    @pytest.mark.parametrize("bad", ["", "nonsense", "dlt_000000000000_" + "a" * 43, "revoked"])
    def test_a_bad_token_stays_on_the_form_with_a_reason(
        self, client: TestClient, seeded: Seeded, bad: str
    ) -> None:
        token = seeded.revoked if bad == "revoked" else bad
        response = client.post("/login", data={"token": token, "next": "/"})
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        alert = parse_html(response.text).find("p", "problem").text
        assert ("Paste a token" if not bad else "malformed, unknown or revoked") in alert

    @pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
    def test_the_login_redirects_only_within_the_site(
        self, client: TestClient, seeded: Seeded, target: str
    ) -> None:
        response = client.post("/login", data={"token": seeded.admin, "next": target})
        assert response.headers["location"] == "/"

    def test_another_site_cannot_log_in_or_out(self, client: TestClient, seeded: Seeded) -> None:
        cross = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
        response = client.post("/login", data={"token": seeded.admin}, headers=cross)
        assert response.status_code == 403
        assert "set-cookie" not in response.headers
        assert "another site" in parse_html(response.text).find("p", "problem").text
        same = {"Sec-Fetch-Site": "same-origin"}
        response = client.post("/login", data={"token": seeded.admin}, headers=same)
        assert response.status_code == 303
        assert client.post("/logout", headers=cross).headers.get("set-cookie") is None
        assert client.get("/").status_code == 200  # still logged in

    def test_a_revoked_token_in_the_cookie_goes_back_to_the_login(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        response = get(client, "/", seeded.revoked)
        assert response.status_code == 303
        assert parse_qs(urlsplit(response.headers["location"]).query)["reason"] == ["expired"]
        assert response.headers["set-cookie"].startswith(f'{COOKIE}="";')
        doc = page(client, response.headers["location"], None)
        assert "no longer valid" in doc.find("p", "note").text

    def test_logout_clears_the_cookie(self, client: TestClient, seeded: Seeded) -> None:
        assert client.post("/login", data={"token": seeded.admin}).status_code == 303
        assert client.get("/").status_code == 200
        response = client.post("/logout")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?reason=logout"
        assert response.headers["set-cookie"].startswith(f'{COOKIE}="";')
        assert "max-age=0" in response.headers["set-cookie"].lower()
        assert client.get("/").status_code == 303

    def test_a_bearer_header_works_too(self, client: TestClient, seeded: Seeded) -> None:
        response = client.get("/", headers={"Authorization": f"Bearer {seeded.admin}"})
        assert response.status_code == 200

    def test_a_token_without_read_gets_a_403_page(self, client: TestClient, seeded: Seeded) -> None:
        for path in ("/", "/overdue", f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}"):
            doc = page(client, path, seeded.write_only, status=403)
            assert "lacks the read scope" in doc.find("section", "error").text
            assert doc.find("form", action="/logout")


class TestTenantIsolation:
    def test_the_fleet_shows_only_the_tokens_tenants(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/", seeded.bound)
        assert fleet_rows(doc) == expected_rows(seeded, BOUND_TENANT)
        assert counts(doc)["All"] == len(seeded.of(BOUND_TENANT))
        options = doc.find("select", name="tenant").find_all("option")
        assert [o.attrs["value"] for o in options] == ["", BOUND_TENANT]
        assert "acme-ro" in doc.find("div", "who").text

    def test_filtering_on_another_tenant_shows_nothing(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/?tenant=globex", seeded.bound)
        assert not doc.find_all("table", "fleet")
        assert counts(doc)["All"] == 0

    def test_another_tenants_workload_is_a_404_page(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        globex = seeded.of("globex")[0]
        path = f"/workloads/globex/{globex.workload_rt_id}"
        doc = page(client, path, seeded.bound, status=404)
        assert globex.workload_name
        assert globex.workload_name not in doc.text
        # exactly the page of a workload that does not exist
        unknown = page(client, "/workloads/globex/000000000000000000000000", seeded.bound, 404)
        assert doc.find("h1").text == unknown.find("h1").text
        assert page(client, path, seeded.admin).find("h1")

    def test_the_overdue_list_shows_only_the_tokens_tenants(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/overdue?older_than=1m", seeded.bound)
        tenants = {tr.find("td", "c-tenant").text for tr in doc.find_all("tr", "state-pending")}
        assert LATE_TENANT not in tenants
        assert tenants <= {BOUND_TENANT}
        other = page(client, f"/overdue?older_than=1m&tenant={LATE_TENANT}", seeded.bound)
        assert not other.find_all("table", "overdue")


class TestEscaping:
    def test_a_message_holding_a_script_is_shown_as_text(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        for path in (f"/workloads/{XSS_TENANT}/{XSS_RT_ID}", f"/?tenant={XSS_TENANT}"):
            response = get(client, path, seeded.admin)
            assert response.status_code == 200
            html = response.text
            assert HOSTILE not in html
            assert HOSTILE_NAME not in html
            assert "<b>pool</b>" not in html
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
            assert "&lt;i&gt;xss-app&lt;/i&gt;" in html
        doc = parse_html(get(client, f"/workloads/{XSS_TENANT}/{XSS_RT_ID}", seeded.admin).text)
        assert HOSTILE in [pre.text for pre in doc.find_all("pre")]

    def test_only_the_pages_own_script_may_run(self, client: TestClient, seeded: Seeded) -> None:
        response = get(client, f"/workloads/{XSS_TENANT}/{XSS_RT_ID}", seeded.admin)
        policy = response.headers["content-security-policy"]
        scripts = parse_html(response.text).find_all("script")
        assert len(scripts) == 1
        nonce = scripts[0].attrs["nonce"]
        assert f"script-src 'nonce-{nonce}'" in policy
        assert "default-src 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        again = get(client, f"/workloads/{XSS_TENANT}/{XSS_RT_ID}", seeded.admin)
        assert parse_html(again.text).find("script").attrs["nonce"] != nonce


class TestWithoutAuth:
    def test_no_login_every_page_opens(self, seeded: Seeded) -> None:
        app = create_app(ServeSettings(store=seeded.url, auth=False, follow=False))
        with TestClient(app, follow_redirects=False) as client:
            doc = page(client, "/", None)
            assert fleet_rows(doc) == expected_rows(seeded)
            assert "auth off" in doc.find("div", "who").text
            assert not doc.find_all("form", action="/logout")
            assert page(client, "/overdue", None).find("h1").text.strip() == "Overdue"
            workload = page(client, f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}", None)
            assert workload.find("svg", "strip")
            login = client.get("/login?next=/overdue")
            assert (login.status_code, login.headers["location"]) == (303, "/overdue")


def test_a_store_down_is_a_503_page_that_says_to_retry() -> None:
    down = "postgresql://postgres@127.0.0.1:9/nothing_listens_here?connect_timeout=2"
    token = "dlt_000000000000_" + "a" * 43
    app = create_app(ServeSettings(store=down, follow=False))
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/").status_code == 303  # no token: the login needs no store
        assert client.get("/login").status_code == 200
        login = client.post("/login", data={"token": token})
        assert login.status_code == 503
        assert login.headers["retry-after"] == "1"
        assert "cannot be reached" in parse_html(login.text).find("p", "problem").text

        client.cookies.set(COOKIE, token)
        for path in ("/", "/overdue", f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"].startswith("text/html")
            assert "Store unavailable" in parse_html(response.text).find("h1").text
            assert "127.0.0.1:9" not in response.text


def test_the_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/dashboard.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    shipped = Path(__file__).parents[2] / "deployledger/http/dashboard/static/dashboard.css"
    assert response.text == shipped.read_text(encoding="utf-8")


def test_every_page_links_the_fleet_overdue_failures_and_stats(
    client: TestClient, seeded: Seeded
) -> None:
    for path in ("/", "/overdue", "/failures", "/stats", f"/workloads/{XSS_TENANT}/{XSS_RT_ID}"):
        nav = page(client, path, seeded.admin).find("nav")
        links = {a.text.strip(): a.attrs["href"] for a in nav.find_all("a")}
        assert links == {
            "Fleet": "/",
            "Overdue": "/overdue",
            "Failures": "/failures",
            "Stats": "/stats",
        }
        current = [a.attrs["href"] for a in nav.find_all("a") if "aria-current" in a.attrs]
        assert current == ([path] if not path.startswith("/workloads") else [])


class TestSharedPresentation:
    def test_the_reason_is_the_shared_headline_and_failed_rows_show_a_category_chip(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/", seeded.admin)
        states = {(w.tenant_id, w.workload_rt_id): w for w in seeded.fleet}
        for tr in doc.find("table", "fleet").find("tbody").find_all("tr"):
            href = tr.find("td", "c-name").find("a").attrs["href"]
            tenant, rt = href.split("/")[2:4]
            state = states[(tenant, rt)]
            cell = tr.find("td", "c-reason")
            assert cell.find("span", "headline").text == presentation.reason(state)
            chips = cell.find_all("a", "chip")
            if state.state.label == "Error":
                category = presentation.category_of(state.status_message)
                assert [c.text for c in chips] == [category]
                assert category in FAILURE_CATEGORIES
                assert chips[0].attrs["href"] == f"/failures?category={category}&since=all"
            else:
                assert chips == []

    def test_an_operator_wrapped_failure_reads_by_its_stderr(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, f"/?tenant={SPOOF_TENANT}", seeded.admin)
        link = doc.find("a", href=f"/workloads/{SPOOF_TENANT}/{SPOOF_FAILED}")
        tr = next(tr for tr in doc.find("tbody").find_all("tr") if link in tr.find_all("a"))
        reason = tr.find("td", "c-reason").find("span", "headline").text
        assert reason.startswith("Error: looks like")
        assert reason == presentation.summary(SPOOF_MESSAGE)
        assert "(helm repo add grafana, exit code 1)" in presentation.headline(SPOOF_MESSAGE)
        assert tr.find("a", "chip").text == "repository-unreachable"

    def test_each_failed_attempt_shows_its_category_and_fingerprint_linked_to_its_group(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        with Ledger.open(seeded.url) as ledger:
            history = ledger.history(EXAMPLE_TENANT, EXAMPLE_RT_ID)
        failed = [a for a in history if not a.success]
        assert failed
        doc = page(client, f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}", seeded.admin)
        for attempt in failed:
            line = doc.find("li", id=f"e-{attempt.position}").find("p", "failure")
            category = presentation.category_of(attempt.status_message)
            fingerprint = presentation.fingerprint_of(attempt.status_message)
            assert line.find("a", "chip").text == category
            link = line.find("a", "fingerprint")
            assert link.find("code").text == fingerprint
            assert line.find("span", "headline").text == presentation.summary(
                attempt.status_message
            )
            group = page(client, link.attrs["href"], seeded.admin)
            shown = group.find_all("li", "group")
            assert [li.attrs["data-fingerprint"] for li in shown] == [fingerprint]
            affected = shown[0].find("dd", "affected").find_all("a")
            assert f"/workloads/{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}" in [
                a.attrs["href"] for a in affected
            ]
        for li in doc.find_all("li", "ok"):
            assert not li.find_all("p", "failure")

    def test_bidi_and_ansi_characters_are_shown_escaped_never_raw(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        for path in (
            f"/?tenant={SPOOF_TENANT}",
            f"/workloads/{SPOOF_TENANT}/{SPOOF_FAILED}",
            f"/workloads/{SPOOF_TENANT}/{SPOOF_PENDING}",
            "/failures",
        ):
            html = get(client, path, seeded.admin).text
            for raw in ("\u202e", "\u202c", "\x1b", "\x07"):
                assert raw not in html, (path, raw)
            assert "\\u202elive\\u202c" in html, path
        doc = page(client, f"/workloads/{SPOOF_TENANT}/{SPOOF_FAILED}", seeded.admin)
        assert presentation.safe(SPOOF_MESSAGE) in [pre.text for pre in doc.find_all("pre")]
        assert "\\x1b[31mfailed\\x1b[0m" in doc.find("pre", "message").text


class TestFailures:
    def groups(self, doc: Node) -> list[Node]:
        return doc.find_all("li", "group")

    def test_the_last_24_hours_by_default_largest_group_first(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/failures", seeded.admin)
        with Ledger.open(seeded.url) as ledger:
            expected = ledger.failures(since=timedelta(hours=24), limit=100)
        assert expected  # the hostile and spoofing failures were recorded just now
        shown = self.groups(doc)
        assert [li.attrs["data-fingerprint"] for li in shown] == [g.fingerprint for g in expected]
        for li, group in zip(shown, expected, strict=True):
            assert li.find("a", "chip").text == group.category
            assert li.find("b", "attempts").text == str(group.attempts)
            assert li.find("b", "workloads").text == str(group.workloads)
            assert li.find("b", "still").text == str(group.still_failing)
            assert li.find("dd", "tenants").text == ", ".join(group.tenants)
            assert li.find("dd", "pools").text == (", ".join(group.pools) or "-")
            assert presentation.when(group.first_seen) in li.text
            assert presentation.when(group.last_seen) in li.text
            assert li.find("pre", "template").text == presentation.safe(group.template)
            assert li.find("p", "headline").text == presentation.summary(group.example)
            affected = li.find("dd", "affected").find_all("a")
            assert len(affected) == min(group.workloads, 12)

    def test_all_time_shows_every_group_and_the_audit_link_lists_its_attempts(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/failures?since=all", seeded.admin)
        with Ledger.open(seeded.url) as ledger:
            expected = ledger.failures(limit=100)
        shown = self.groups(doc)
        assert [li.attrs["data-fingerprint"] for li in shown] == [g.fingerprint for g in expected]
        assert len(expected) > len(self.groups(page(client, "/failures", seeded.admin)))
        largest = expected[0]
        audit = shown[0].find("a", "audit").attrs["href"]
        assert audit.startswith("/v1/audit?")
        rows = get(client, audit, seeded.admin).json()
        assert len(rows) == largest.attempts
        workloads = {(r["tenantId"], r["workloadRtId"]) for r in rows}
        assert len(workloads) == largest.workloads
        linked = shown[0].find("dd", "affected").find_all("a")
        assert {tuple(a.attrs["title"].split("/")) for a in linked} <= workloads
        assert all(not r["success"] for r in rows)

    def test_filters_narrow_the_groups(self, client: TestClient, seeded: Seeded) -> None:
        with Ledger.open(seeded.url) as ledger:
            every = ledger.failures(limit=100)
            category = every[0].category
            expected = ledger.failures(category=category, limit=100)
            of_globex = ledger.failures(tenant_id="globex", limit=100)
        doc = page(client, f"/failures?since=all&category={category}", seeded.admin)
        assert [li.attrs["data-fingerprint"] for li in self.groups(doc)] == [
            g.fingerprint for g in expected
        ]
        doc = page(client, "/failures?since=all&tenant=globex", seeded.admin)
        assert [li.attrs["data-fingerprint"] for li in self.groups(doc)] == [
            g.fingerprint for g in of_globex
        ]

    def test_a_tenant_bound_token_sees_only_its_tenants_groups(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/failures?since=all", seeded.bound)
        assert self.groups(doc)
        for li in self.groups(doc):
            assert li.find("dd", "tenants").text == BOUND_TENANT
        assert self.groups(page(client, "/failures?since=all&tenant=globex", seeded.bound)) == []

    @pytest.mark.parametrize(
        ("query", "said"),
        [("since=soon", "window"), ("category=gremlins", "category must be one of")],
    )
    def test_a_bad_filter_is_a_400_page(
        self, client: TestClient, seeded: Seeded, query: str, said: str
    ) -> None:
        doc = page(client, f"/failures?{query}", seeded.admin, status=400)
        assert said in doc.find("section", "error").text


class TestStats:
    def test_per_day_and_per_tenant_bars_drawn_on_the_server(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        response = get(client, "/stats?since=90d", seeded.admin)
        assert response.status_code == 200
        doc = parse_html(response.text)
        with Ledger.open(seeded.url) as ledger:
            found = ledger.stats(since=timedelta(days=90), by="tenant")
        charts = doc.find_all("figure", "chart")
        titles = [c.find("figcaption").text.split(" succeeded")[0].strip() for c in charts]
        assert titles == [
            "Deployments per day",
            "Change-failure rate per day",
            "Deployments per tenant",
            "Change-failure rate per tenant",
            "Recovery time (median) per tenant",
            "Deploy duration (median) per tenant",
        ]
        days = {d.day for s in found for d in s.days}
        per_day = charts[0].find_all("g", "bar")
        assert [g.attrs["data-label"] for g in per_day] == sorted(d.isoformat() for d in days)
        total = sum(s.outcomes for s in found)
        shown = sum(int(g.find("title").text.split(": ")[1].split(" ")[0]) for g in per_day)
        assert shown == total
        per_tenant = charts[2].find_all("g", "bar")
        assert [g.attrs["data-label"] for g in per_tenant] == [s.key for s in found]
        for g, s in zip(per_tenant, found, strict=True):
            assert g.find("title").text == f"{s.key}: {s.outcomes} ({s.failures} failed)"
        rows = doc.find("table", "stats").find("tbody").find_all("tr")
        assert [tr.attrs["data-key"] for tr in rows] == [s.key or "" for s in found]
        # Drawn here: no script but the page's own, nothing fetched from elsewhere.
        assert len(doc.find_all("script")) == 1
        assert "src=" not in response.text.split("<main>")[1]
        assert "http://" not in response.text
        assert "https://" not in response.text

    def test_per_pool(self, client: TestClient, seeded: Seeded) -> None:
        doc = page(client, "/stats?since=90d&by=pool", seeded.admin)
        with Ledger.open(seeded.url) as ledger:
            found = ledger.stats(since=timedelta(days=90), by="pool")
        bars = doc.find_all("figure", "chart")[2].find_all("g", "bar")
        assert [g.attrs["data-label"] for g in bars] == [s.key or "(no pool)" for s in found]

    def test_a_tenant_bound_token_sees_only_its_tenants(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        doc = page(client, "/stats?since=90d", seeded.bound)
        bars = doc.find_all("figure", "chart")[2].find_all("g", "bar")
        assert [g.attrs["data-label"] for g in bars] == [BOUND_TENANT]

    @pytest.mark.parametrize(
        ("query", "said"), [("by=workload", "by must be one of"), ("since=all", "window")]
    )
    def test_a_bad_choice_is_a_400_page(
        self, client: TestClient, seeded: Seeded, query: str, said: str
    ) -> None:
        doc = page(client, f"/stats?{query}", seeded.admin, status=400)
        assert said in doc.find("section", "error").text


def test_the_login_refuses_a_token_without_read(client: TestClient, seeded: Seeded) -> None:
    response = client.post("/login", data={"token": seeded.write_only, "next": "/"})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    alert = parse_html(response.text).find("p", "problem").text
    assert "has no read scope" in alert
    assert "--scope read" in alert
