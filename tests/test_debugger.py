"""``actionkit debugger``: the run-history page, in a real headless Chromium.

The history is a real SQLite file written through :class:`RunHistory`; the debugger runs as
the real command (``actionkit debugger --port 0``) in a subprocess; the page is driven by
Selenium through Debian's ``chromium`` and ``chromium-driver`` (``scripts/system-packages.sh``
installs them). The JSON API is also tested directly, without a browser.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.sync.history import CallRecord, RowOperation, RowStatus, RunBatch, RunHistory

DASH = "\N{EN DASH}"
XSS_KEY = '<img src=x onerror="document.title=1">'


OK_STARTED, OK_ENDED = "2026-12-01T10:00:00.000+00:00", "2026-12-01T10:02:05.250+00:00"
BIG_ROWS, BIG_CALLS = 250, 45


def _call_of(i: int) -> CallRecord:
    """The call of row ``o{i}`` of the big run: every tenth refused."""
    return CallRecord(
        (f"o{i:03d}",),
        "permanent_failure" if i % 10 == 0 else "delivered",
        1,
        method="PATCH",
        url="http://127.0.0.1:1/user-attributes",
        request={"order": i},
        status=400 if i % 10 == 0 else 200,
        response="{}",
    )


def _big_run(history: RunHistory) -> int:
    """A run of ``orders``: 250 rows in batches of 10 (added, changed, removed; every tenth
    of the first 230 rejected, and first in its batch), the calls of the first 45 kept."""
    run_id = history.start_run("orders", "update")
    for first in range(0, BIG_ROWS, 10):
        batch = RunBatch()
        for i in range(first, first + 10):
            operation: RowOperation = "added" if i % 4 < 2 else "changed"
            status: RowStatus = "rejected" if i % 10 == 0 else "succeeded"
            if i >= 230:
                operation, status = "removed", "skipped"
            code, error = ("INTEGRATION_ERROR", "refused") if status == "rejected" else (None, None)
            call = None
            if i < BIG_CALLS:
                batch.calls.append(_call_of(i))
                call = len(batch.calls) - 1
            batch.rows.append((f"o{i:03d}", operation, status, call, code, error))
        history.record(run_id, batch)
    history.finish_run(
        run_id,
        "partial",
        {
            "queried": 300,
            "added": 115,
            "changed": 115,
            "unchanged": 70,
            "removed": 20,
            "succeeded": 207,
            "rejected": 23,
        },
    )
    return run_id


def _write_history(path: Path) -> dict[str, int]:
    """Runs of ``users``: ok, partial (3 rejected rows, 2 calls), failed; a big one of orders."""
    with RunHistory(path) as history:
        ok = history.start_run("users", "update")
        history.finish_run(
            ok, "succeeded", {"queried": 10, "added": 10, "unchanged": 7, "succeeded": 10}
        )
        partial = history.start_run("users", "update")
        batch = RunBatch(
            calls=[
                CallRecord(
                    primary_keys=("u1", "u2"),
                    outcome="permanent_failure",
                    attempts=1,
                    method="PATCH",
                    url="http://127.0.0.1:1/user-attributes",
                    request={"plan": "pro", "lifetime_value": 12.5},
                    status=400,
                    response=json.dumps({"code": "UNDEFINED_ATTRIBUTE", "status": 400}),
                    error_code="INTEGRATION_ERROR",
                    error_message="The API refused the request.",
                ),
                CallRecord(
                    primary_keys=("u3",),
                    outcome="delivered",
                    attempts=2,
                    method="PATCH",
                    url="http://127.0.0.1:1/user-attributes",
                    request={"plan": "free"},
                    status=200,
                    response="plain text answer",
                ),
            ],
            rejected=[
                ("u1", "INTEGRATION_ERROR", "The API refused the request.", 0),
                ("u2", "INTEGRATION_ERROR", "The API refused the request.", 0),
                (XSS_KEY, "ATTRIBUTE_TYPE_MISMATCH", "plan must be a string.", None),
            ],
            rows=[
                ("u1", "changed", "rejected", 0, "INTEGRATION_ERROR", "The API refused it."),
                ("u2", "changed", "rejected", 0, "INTEGRATION_ERROR", "The API refused it."),
                ("u3", "added", "succeeded", 1, None, None),
                (XSS_KEY, None, "rejected", None, "ATTRIBUTE_TYPE_MISMATCH", "plan: a string."),
            ],
        )
        history.record(partial, batch)
        history.finish_run(
            partial, "partial", {"queried": 4, "changed": 4, "succeeded": 1, "rejected": 3}
        )
        failed = history.start_run("users", "all")
        history.finish_run(failed, "failed", {}, error="The source query failed.")
        big = _big_run(history)
    db = sqlite3.connect(path)
    with db:  # a run with known times, for the readable times
        db.execute(
            "UPDATE runs SET started_at = ?, ended_at = ? WHERE id = ?", (OK_STARTED, OK_ENDED, ok)
        )
    db.close()
    return {"ok": ok, "partial": partial, "failed": failed, "big": big}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("debugger") / "history.sqlite"
    return path, _write_history(path)


# The page, in Chromium

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def debugger_url(history: tuple[Path, dict[str, int]]) -> Iterator[str]:
    path, _ = history
    command = [sys.executable, "-m", "framework", "debugger", "--history", str(path)]
    with subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), process.stderr and process.stderr.read()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


# The JSON API


def test_the_api_lists_runs_newest_first(
    debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    runs = httpx.get(f"{debugger_url}api/runs").json()["runs"]
    assert [run["id"] for run in runs] == [ids["big"], ids["failed"], ids["partial"], ids["ok"]]
    assert (runs[-1]["unchanged"], runs[-1]["rows_recorded"]) == (7, True)
    assert [
        run["id"] for run in httpx.get(f"{debugger_url}api/runs?sync=orders").json()["runs"]
    ] == [ids["big"]]
    assert httpx.get(f"{debugger_url}api/runs?sync=items").json() == {"runs": []}
    assert httpx.get(f"{debugger_url}api/runs?limit=x").status_code == 400


def test_the_api_shows_a_run_its_rejected_rows_and_calls(
    debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    body = httpx.get(f"{debugger_url}api/runs/{ids['partial']}").json()
    assert body["run"]["rejected"] == 3
    assert [row["primary_key"] for row in body["rejected"]] == ["u1", "u2", XSS_KEY]
    assert body["rejected"][0]["call"]["request"] == {"plan": "pro", "lifetime_value": 12.5}
    assert len(body["calls"]) == 2
    one = httpx.get(f"{debugger_url}api/runs/{ids['partial']}", params={"primary_key": "u3"}).json()
    assert (one["rejected"], [c["primary_keys"] for c in one["calls"]]) == ([], [["u3"]])
    call_id = body["calls"][1]["id"]
    assert httpx.get(f"{debugger_url}api/calls/{call_id}").json()["call"]["attempts"] == 2


def test_the_api_answers_404_for_an_unknown_run_and_sets_a_strict_policy(
    debugger_url: str,
) -> None:
    missing = httpx.get(f"{debugger_url}api/runs/999")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "There is no run 999 in the history."},
    )
    assert httpx.get(f"{debugger_url}api/calls/999").status_code == 404
    page = httpx.get(debugger_url)
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["", "api/runs", "api/calls/1", "app.js"])
@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:8788", "127.0.0.1.nip.io", "10.0.0.1"]
)
def test_a_request_for_another_host_name_is_refused(
    debugger_url: str, path: str, host: str
) -> None:
    # A page whose name was rebound to 127.0.0.1 sends its own name as Host (DNS rebinding).
    answer = httpx.get(f"{debugger_url}{path}", headers={"host": host})
    assert answer.status_code == 400
    assert "runs" not in answer.text


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "LOCALHOST"])
def test_the_local_host_names_are_answered(debugger_url: str, name: str) -> None:
    port = debugger_url.rstrip("/").rsplit(":", 1)[1]
    answer = httpx.get(f"{debugger_url}api/runs", headers={"host": f"{name}:{port}"})
    assert answer.status_code == 200
    assert len(answer.json()["runs"]) == 4


def test_the_app_answers_ipv6_loopback_and_the_host_it_is_bound_to(
    history: tuple[Path, dict[str, int]],
) -> None:
    from framework.debugger import create_app
    from tests.server_helpers import serving

    path, _ = history
    with serving(create_app(path, hosts=["::1", "debug.internal"])) as url:
        for host in ("[::1]:8788", "debug.internal", "debug.internal:80", "localhost"):
            answer = httpx.get(f"{url}/api/runs", headers={"host": host})
            assert answer.status_code == 200, host
        for host in ("::1", "evil.example.com", "debug.internal.evil.example.com", ""):
            answer = httpx.get(f"{url}/api/runs", headers={"host": host})
            assert answer.status_code == 400, host


def test_the_command_needs_an_existing_history(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "framework", "debugger", "--history", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "There is no run history" in result.stderr


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Not a skip: the suite's own scripts install Chromium (scripts/system-packages.sh).
    missing = "is not installed; run scripts/system-packages.sh."
    assert CHROMIUM is not None, f"Chromium {missing}"
    assert CHROMEDRIVER is not None, f"chromium-driver {missing}"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(browser: Any, condition: Any) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A poll may meet an element the page has just replaced (it re-renders on each change).
    wait = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(condition)


def _css(browser: Any, selector: str) -> list[Any]:
    return browser.find_elements("css selector", selector)


def test_the_api_pages_a_runs_rows_filtered_by_status_and_operation(
    debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    url = f"{debugger_url}api/runs/{ids['big']}/rows"
    first = httpx.get(url, params={"limit": 100}).json()
    assert (first["total"], first["offset"], first["limit"], len(first["rows"])) == (
        250,
        0,
        100,
        100,
    )
    last = httpx.get(url, params={"limit": 100, "offset": 200}).json()
    assert [row["primary_key"] for row in last["rows"]][:2] == ["o200", "o201"]
    assert len(last["rows"]) == 50
    rejected = httpx.get(url, params={"status": "rejected"}).json()
    assert rejected["total"] == 23  # every tenth of the first 230
    assert {row["error_code"] for row in rejected["rows"]} == {"INTEGRATION_ERROR"}
    removed = httpx.get(url, params={"operation": "removed", "status": "skipped"}).json()
    assert removed["total"] == 20
    added = httpx.get(url, params={"operation": "added", "status": "rejected", "limit": 5}).json()
    assert [row["primary_key"] for row in added["rows"]] == ["o000", "o020", "o040", "o060", "o080"]
    assert added["rows"][0]["call_id"] is not None
    one = httpx.get(url, params={"primary_key": "o007"}).json()
    assert [(r["operation"], r["status"]) for r in one["rows"]] == [("changed", "succeeded")]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "lost"}, "status must be one of succeeded, rejected, skipped, not 'lost'."),
        (
            {"operation": "x"},
            "operation must be one of added, changed, unchanged, removed, not 'x'.",
        ),
        ({"offset": "-1"}, "offset must be a whole number, 0 or more."),
        ({"limit": "many"}, "limit must be a whole number from 1 to 5000."),
    ],
)
def test_the_api_refuses_an_unknown_filter_or_page(
    debugger_url: str, history: tuple[Path, dict[str, int]], query: dict[str, str], message: str
) -> None:
    _, ids = history
    answer = httpx.get(f"{debugger_url}api/runs/{ids['big']}/rows", params=query)
    assert (answer.status_code, answer.json()) == (400, {"error": message})


def test_the_api_pages_a_runs_calls_one_line_each(
    debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    url = f"{debugger_url}api/runs/{ids['big']}/calls"
    page = httpx.get(url, params={"limit": 20, "offset": 40}).json()
    assert (page["total"], page["offset"], len(page["calls"])) == (BIG_CALLS, 40, 5)
    assert page["calls"][0]["primary_keys"] == ["o040"]
    assert "request" not in page["calls"][0]  # a line; its request is one more call away
    assert page["calls"][0]["status"] == 400
    carrying = httpx.get(url, params={"primary_key": "o003"}).json()
    assert (carrying["total"], [c["primary_keys"] for c in carrying["calls"]]) == (1, [["o003"]])
    assert httpx.get(f"{debugger_url}api/runs/999/calls").status_code == 404
    assert httpx.get(f"{debugger_url}api/runs/999/rows").status_code == 404


def test_the_api_reads_a_history_written_by_the_first_schema(tmp_path: Path) -> None:
    from sync_fixtures import write_old_history

    from framework.debugger import create_app
    from tests.server_helpers import serving

    path = tmp_path / "old.sqlite"
    write_old_history(path)
    with serving(create_app(path)) as url:
        [run] = httpx.get(f"{url}/api/runs").json()["runs"]
        assert (run["rejected"], run["rows_recorded"]) == (2, False)
        rows = httpx.get(f"{url}/api/runs/{run['id']}/rows").json()
        assert (rows["total"], rows["rows_recorded"]) == (2, False)
        assert [(r["primary_key"], r["operation"]) for r in rows["rows"]] == [
            ("u1", None),
            ("u2", None),
        ]
        assert httpx.get(f"{url}/api/runs/{run['id']}/calls").json()["total"] == 1


def _rows_shown(browser: Any, count: int) -> Any:
    """Wait until the rows table holds ``count`` rows; returns them."""

    def shown(b: Any) -> Any:
        rows = _css(b, "#rows tr.row")
        return rows if len(rows) == count else None

    return _wait(browser, shown)


def test_the_page_lists_the_runs_with_their_status_counts_and_readable_times(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get(debugger_url)
    rows = _wait(
        browser, lambda b: _css(b, "#runs tr.run") if len(_css(b, "#runs tr.run")) == 4 else None
    )
    assert [row.get_attribute("data-run-id") for row in rows] == [
        str(ids["big"]),
        str(ids["failed"]),
        str(ids["partial"]),
        str(ids["ok"]),
    ]
    assert [row.get_attribute("data-status") for row in rows] == [
        "partial",
        "failed",
        "partial",
        "succeeded",
    ]
    partial = rows[2]
    assert partial.find_element("css selector", ".count-rejected").text == "3"
    assert partial.find_element("css selector", ".count-queried").text == "4"
    ok = rows[3]
    assert ok.find_element("css selector", ".count-unchanged").text == "7"
    headers = [cell.text for cell in _css(browser, "#runs thead th")]
    assert headers.index("Unchanged") == headers.index("Changed") + 1
    # Readable times: local and relative, the ISO time in the title.
    started = ok.find_element("css selector", "time.started")
    assert started.get_attribute("title") == OK_STARTED
    assert started.text.endswith("days ago)")
    duration = ok.find_element("css selector", ".duration")
    assert duration.text == "2 min 5 s"
    assert duration.get_attribute("title") == f"{OK_STARTED} to {OK_ENDED}"
    # The newest run started moments ago: "just now" within 5 s of the page, else "N s ago".
    newest = rows[0].find_element("css selector", "time.started").text
    assert newest.endswith(("just now)", " s ago)")), newest


def test_a_run_shows_its_rows_and_its_calls_collapsed_one_line_each(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get(debugger_url)
    link = _wait(
        browser, lambda b: b.find_element("css selector", f'tr[data-run-id="{ids["partial"]}"] a')
    )
    link.click()
    rows = _rows_shown(browser, 4)
    assert (
        browser.find_element("id", "run-title").text == f"Run #{ids['partial']} of users: partial"
    )
    assert [row.find_element("css selector", ".primary-key").text for row in rows] == [
        "u1",
        "u2",
        "u3",
        XSS_KEY,
    ]
    assert [row.find_element("css selector", ".operation").text for row in rows] == [
        "changed",
        "changed",
        "added",
        "—",
    ]
    assert [row.get_attribute("data-status") for row in rows] == [
        "rejected",
        "rejected",
        "succeeded",
        "rejected",
    ]
    assert rows[0].find_element("css selector", ".message").text == (
        "INTEGRATION_ERROR: The API refused it."
    )
    assert rows[3].find_element("css selector", ".no-call").text == "before sending"
    # A value is text, never HTML: no image was made from the key, nothing ran.
    assert _css(browser, "#rows img") == []
    assert browser.title == "actionkit debugger"
    # Calls: one line each, collapsed; expanding one loads its request and response.
    calls = _css(browser, "#calls details.call")
    assert len(calls) == 2
    assert [call.get_attribute("open") for call in calls] == [None, None]
    line = calls[0].find_element("css selector", "summary").text
    assert line == (
        f"#{calls[0].get_attribute('data-call-id')} PATCH http://127.0.0.1:1/user-attributes"
        " → 400 · permanent_failure · 1 attempt"
    )
    assert "2 attempts" in calls[1].find_element("css selector", "summary").text
    calls[0].find_element("css selector", "summary").click()
    request = _wait(browser, lambda b: calls[0].find_element("css selector", "pre.request"))
    response = calls[0].find_element("css selector", "pre.response")
    assert json.loads(request.text) == {"plan": "pro", "lifetime_value": 12.5}
    assert json.loads(response.text) == {"code": "UNDEFINED_ATTRIBUTE", "status": 400}
    calls[1].find_element("css selector", "summary").click()
    answer = _wait(browser, lambda b: calls[1].find_element("css selector", "pre.response"))
    assert answer.text == "plain text answer"
    # The call of a row is one click away: opened and highlighted in the list.
    calls[0].find_element("css selector", "summary").click()  # collapse it again
    rows[1].find_element("css selector", "button.call-link").click()
    _wait(browser, lambda b: "highlight" in (calls[0].get_attribute("class") or ""))
    assert calls[0].get_attribute("open") == "true"


def test_searching_a_primary_key_shows_only_its_rows_and_calls(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get("about:blank")  # a new page: no call left open by the test before
    browser.get(f"{debugger_url}#/runs/{ids['partial']}")
    _rows_shown(browser, 4)
    search = browser.find_element("id", "pk-search")
    search.send_keys("u2")
    browser.find_element("css selector", "#pk-form button[type=submit]").click()
    [row] = _rows_shown(browser, 1)
    assert row.find_element("css selector", ".primary-key").text == "u2"
    _wait(browser, lambda b: len(_css(b, "#calls details.call")) == 1)
    [call] = _css(browser, "#calls details.call")
    call.find_element("css selector", "summary").click()
    keys = _wait(browser, lambda b: call.find_element("css selector", ".keys"))
    assert keys.text == "Rows: u1, u2"
    assert browser.current_url.endswith(f"#/runs/{ids['partial']}?pk=u2")
    browser.find_element("id", "pk-clear").click()
    _rows_shown(browser, 4)


def test_rows_are_filtered_by_status_and_operation_and_paged(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    from selenium.webdriver.support.ui import Select

    _, ids = history
    browser.get(f"{debugger_url}#/runs/{ids['big']}")
    rows = _rows_shown(browser, 100)
    assert rows[0].find_element("css selector", ".primary-key").text == "o000"
    assert browser.find_element("id", "rows-count").text == "(250)"
    note = browser.find_element("id", "rows-note")
    assert note.text == (
        "70 unchanged rows were compared with the state and not sent: they are counted, not listed."
    )
    pager = browser.find_element("id", "rows-pager")
    assert pager.find_element("css selector", ".position").text == f"1{DASH}100 of 250"
    pager.find_element("css selector", ".next").click()
    _wait(browser, lambda b: _css(b, "#rows tr.row .primary-key")[0].text == "o100")
    assert pager.find_element("css selector", ".position").text == f"101{DASH}200 of 250"
    assert browser.current_url.endswith(f"#/runs/{ids['big']}?rows=100")
    # A filter starts again at the first page.
    Select(browser.find_element("id", "status-filter")).select_by_value("rejected")
    rejected = _rows_shown(browser, 23)
    assert {row.get_attribute("data-status") for row in rejected} == {"rejected"}
    assert browser.find_element("id", "rows-count").text == "(23 with status rejected)"
    assert not pager.is_displayed()
    Select(browser.find_element("id", "operation-filter")).select_by_value("added")
    added = _rows_shown(browser, 12)
    assert {row.get_attribute("data-operation") for row in added} == {"added"}
    assert browser.current_url.endswith(f"#/runs/{ids['big']}?status=rejected&op=added")
    Select(browser.find_element("id", "status-filter")).select_by_value("skipped")
    Select(browser.find_element("id", "operation-filter")).select_by_value("removed")
    removed = _rows_shown(browser, 20)
    assert {row.find_element("css selector", ".no-call").text for row in removed} == {"not sent"}


def test_calls_are_paged_and_a_rows_call_off_the_page_opens_on_its_own(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get(f"{debugger_url}#/runs/{ids['big']}")
    _wait(browser, lambda b: len(_css(b, "#calls details.call")) == 20)
    # Calls 45 and on were not kept (keepCalls): their rows say so.
    row = browser.find_element("css selector", 'tr[data-primary-key="o051"]')
    assert row.find_element("css selector", ".no-call").text == "call not kept"
    pager = browser.find_element("id", "calls-pager")
    assert pager.find_element("css selector", ".position").text == f"1{DASH}20 of 45"
    assert pager.find_element("css selector", ".previous").get_attribute("disabled") == "true"
    pager.find_element("css selector", ".next").click()
    _wait(browser, lambda b: f"21{DASH}40 of 45" in pager.text)
    pager.find_element("css selector", ".next").click()
    _wait(browser, lambda b: len(_css(b, "#calls details.call")) == 5)
    assert pager.find_element("css selector", ".next").get_attribute("disabled") == "true"
    # Row o003's call is on the first page of calls, not this one: it opens on its own.
    row = _wait(browser, lambda b: b.find_element("css selector", 'tr[data-primary-key="o003"]'))
    row.find_element("css selector", "button.call-link").click()
    detail = browser.find_element("id", "call-detail")
    request = _wait(browser, lambda b: detail.find_element("css selector", "pre.request"))
    assert json.loads(request.text) == {"order": 3}
    browser.find_element("id", "call-detail-close").click()
    assert not detail.is_displayed()


def test_a_run_of_an_old_history_says_its_rows_were_not_recorded(
    browser: Any, tmp_path: Path
) -> None:
    from sync_fixtures import write_old_history

    from framework.debugger import create_app
    from tests.server_helpers import serving

    path = tmp_path / "old.sqlite"
    write_old_history(path)
    with serving(create_app(path)) as url:
        browser.get(f"{url}/#/runs/1")
        rows = _rows_shown(browser, 2)
        assert [row.find_element("css selector", ".operation").text for row in rows] == ["—", "—"]
        assert browser.find_element("id", "rows-note").text == (
            "This run was recorded before rows were: only its rejected rows are listed, "
            "without their operation."
        )
        duration = browser.find_element("css selector", "#run-summary .duration")
        assert duration.text == "3.5 s"


def test_a_failed_run_shows_its_error(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get(f"{debugger_url}#/runs/{ids['failed']}")
    error = _wait(
        browser,
        lambda b: (
            b.find_element("id", "run-error")
            if b.find_element("id", "run-error").is_displayed()
            else None
        ),
    )
    assert error.text == "The source query failed."
    assert _css(browser, "#rows tr.row") == []


def test_an_unknown_run_says_so(browser: Any, debugger_url: str) -> None:
    browser.get(f"{debugger_url}#/runs/999")
    _wait(browser, lambda b: "no run 999" in b.find_element("id", "status").text)
