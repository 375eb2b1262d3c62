"""``actionkit debugger``: the run-history page, in a real headless Chromium.

The history is a real SQLite file written through :class:`RunHistory`; the debugger runs as
the real command (``actionkit debugger --port 0``) in a subprocess; the page is driven by
Selenium through Debian's ``chromium`` and ``chromium-driver`` (``scripts/system-packages.sh``
installs them). The JSON API is also tested directly, without a browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.sync.history import CallRecord, RunBatch, RunHistory

XSS_KEY = '<img src=x onerror="document.title=1">'


def _write_history(path: Path) -> dict[str, int]:
    """Three runs of ``users``: ok, partial (3 rejected rows, 2 calls), failed."""
    with RunHistory(path) as history:
        ok = history.start_run("users", "update")
        history.finish_run(ok, "succeeded", {"queried": 10, "added": 10, "succeeded": 10})
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
        )
        history.record(partial, batch)
        history.finish_run(
            partial, "partial", {"queried": 4, "changed": 4, "succeeded": 1, "rejected": 3}
        )
        failed = history.start_run("users", "all")
        history.finish_run(failed, "failed", {}, error="The source query failed.")
    return {"ok": ok, "partial": partial, "failed": failed}


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
    assert [run["id"] for run in runs] == [ids["failed"], ids["partial"], ids["ok"]]
    assert httpx.get(f"{debugger_url}api/runs?sync=orders").json() == {"runs": []}
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
    assert len(answer.json()["runs"]) == 3


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
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 10).until(condition)


def _css(browser: Any, selector: str) -> list[Any]:
    return browser.find_elements("css selector", selector)


def test_the_page_lists_the_runs_with_their_status_and_counts(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get(debugger_url)
    rows = _wait(
        browser, lambda b: _css(b, "#runs tr.run") if len(_css(b, "#runs tr.run")) == 3 else None
    )
    assert [row.get_attribute("data-run-id") for row in rows] == [
        str(ids["failed"]),
        str(ids["partial"]),
        str(ids["ok"]),
    ]
    assert [row.get_attribute("data-status") for row in rows] == ["failed", "partial", "succeeded"]
    partial = rows[1]
    assert partial.find_element("css selector", ".count-rejected").text == "3"
    assert partial.find_element("css selector", ".count-queried").text == "4"


def test_a_run_shows_its_rejected_rows_and_each_call_request_and_response(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get(debugger_url)
    link = _wait(
        browser, lambda b: b.find_element("css selector", f'tr[data-run-id="{ids["partial"]}"] a')
    )
    link.click()
    _wait(browser, lambda b: len(_css(b, "#rejected tr.rejected")) == 3)
    assert (
        browser.find_element("id", "run-title").text == f"Run #{ids['partial']} of users: partial"
    )
    keys = [cell.text for cell in _css(browser, "#rejected td.primary-key")]
    assert keys == ["u1", "u2", XSS_KEY]
    # A value is text, never HTML: no image was made from the key, nothing ran.
    assert _css(browser, "#rejected img") == []
    assert browser.title == "actionkit debugger"
    calls = _css(browser, "#calls .call")
    assert len(calls) == 2
    request = json.loads(calls[0].find_element("css selector", "pre.request").text)
    response = json.loads(calls[0].find_element("css selector", "pre.response").text)
    assert request == {"plan": "pro", "lifetime_value": 12.5}
    assert response == {"code": "UNDEFINED_ATTRIBUTE", "status": 400}
    assert calls[1].find_element("css selector", "pre.response").text == "plain text answer"
    # The call of a rejected row is one click away.
    _css(browser, "#rejected tr.rejected button.call-link")[0].click()
    _wait(browser, lambda b: "highlight" in (calls[0].get_attribute("class") or ""))


def test_searching_a_primary_key_shows_only_its_rows_and_calls(
    browser: Any, debugger_url: str, history: tuple[Path, dict[str, int]]
) -> None:
    _, ids = history
    browser.get(f"{debugger_url}#/runs/{ids['partial']}")
    _wait(browser, lambda b: len(_css(b, "#rejected tr.rejected")) == 3)
    search = browser.find_element("id", "pk-search")
    search.send_keys("u2")
    browser.find_element("css selector", "#pk-form button[type=submit]").click()
    _wait(browser, lambda b: len(_css(b, "#rejected tr.rejected")) == 1)
    assert _css(browser, "#rejected td.primary-key")[0].text == "u2"
    calls = _css(browser, "#calls .call")
    assert [call.get_attribute("data-call-id") for call in calls] != []
    assert all("u2" in call.find_element("css selector", ".keys").text for call in calls)
    assert len(calls) == 1
    assert browser.current_url.endswith(f"#/runs/{ids['partial']}?pk=u2")
    browser.find_element("id", "pk-clear").click()
    _wait(browser, lambda b: len(_css(b, "#rejected tr.rejected")) == 3)


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
    assert _css(browser, "#rejected tr.rejected") == []


def test_an_unknown_run_says_so(browser: Any, debugger_url: str) -> None:
    browser.get(f"{debugger_url}#/runs/999")
    _wait(browser, lambda b: "no run 999" in b.find_element("id", "status").text)
