"""Contentstack's SDK in its browser build, and Segment's web actions' fetch, in a real page.

Headless Chromium (Selenium, as tests/test_debugger.py) loads ``tests/node/personalize-sdk/
browser.html`` from one loopback origin; the page calls the emulator on another, so every call
goes through the browser's CORS checks (a preflight for the custom headers, then the answer's
``Access-Control-*`` headers), as a shop's page calling the real Edge API does.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from framework.emulators import ContentstackEmulator
from framework.emulators.manifest import Experience, Variant
from tests.test_personalize_sdk import install_sdk

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "tests" / "node" / "personalize-sdk" / "browser.html"
SDK_BUILD = Path("node_modules/@contentstack/personalize-edge-sdk/dist/personalize-edge-sdk.min.js")
PROJECT = "project-1"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def _page_server(files: dict[str, tuple[bytes, str]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = files.get(self.path.split("?", 1)[0], (b"not found", "text/plain"))
            self.send_response(200 if self.path.split("?", 1)[0] in files else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def page_url() -> Iterator[str]:
    sdk_modules = install_sdk()
    files = {
        "/": (PAGE.read_bytes(), "text/html; charset=utf-8"),
        "/sdk.js": ((sdk_modules / SDK_BUILD).read_bytes(), "text/javascript"),
    }
    server = _page_server(files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
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


def test_a_page_calls_the_emulator_through_cors(browser: Any, page_url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    experiences = [Experience("a", (Variant("1", {"plan": "pro"}), Variant("0")))]
    with ContentstackEmulator(project_uid=PROJECT, experiences=experiences) as api:
        browser.get(page_url + "?" + urlencode({"edge": api.url, "project": PROJECT}))
        outcome = WebDriverWait(browser, 20).until(
            lambda b: b.execute_script(
                "return window.result ? {result: window.result} :"
                " window.failure ? {failure: window.failure} : null"
            )
        )
        assert "failure" not in outcome, outcome["failure"]
        result = outcome["result"]
        anonymous = result["anonymous"]
        assert result["segmentStatus"] == 200
        # Variants as the first manifest gave them (before plan=pro was set).
        assert result["variants"] == {"a": "0"}

        preflights = [entry.path for entry in api.requests if entry.method == "OPTIONS"]
        assert "/manifest" in preflights
        assert "/events" in preflights
        assert {entry.status for entry in api.requests} <= {200, 204}
        assert api.state()["projects"] == {
            PROJECT: {
                "users": {
                    "known-user": {
                        "attributes": {"plan": "pro"},
                        "events": [
                            {"type": "EVENT", "eventKey": "signup"},
                            {
                                "type": "IMPRESSION",
                                "experienceShortUid": "a",
                                "variantShortUid": "0",
                            },
                        ],
                    },
                    "segment-user": {
                        "attributes": {},
                        "events": [{"type": "EVENT", "eventKey": "Order Completed"}],
                    },
                },
                "merges": [{"sourceUserUid": anonymous, "targetUserUid": "known-user"}],
            }
        }
