"""The agent's web protection proxy in a real browser: Debian chromium driven by Playwright.

Chromium is configured with the proxy (and `<-loopback>`, so even the loopback origin goes
through it). The pilot's test URL shows the block page; a Warn indicator on a page of a local
origin shows the warning, "Continue anyway" reaches the origin's content, and the proxy reports
the warning and the "warning overlooked" detection, in that order. Screenshots land in tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, playwright, serve_page

from conftest import FakeClock
from openmtd.agent.protection.proxy import ProtectionProxy, ProxyThread
from openmtd.domain.device import Detection
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.web.index import build_index

pytestmark = pytest.mark.e2e
_ = playwright  # the fixture, imported by name

ORIGIN_PAGE = b"<!doctype html><title>Origin</title><h1>Welcome to the origin</h1>"


@pytest.fixture
def origin_port() -> Iterator[int]:
    yield from serve_page(ORIGIN_PAGE)


def test_the_browser_sees_block_and_warning_pages(
    playwright: Any, origin_port: int, clock: FakeClock, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    warn = Indicator(
        IndicatorType.URL,
        "127.0.0.1/warn-me",
        IndicatorMeta(
            kind=MatchKind.INDICATOR,
            source="ind-e2e",
            action=IndicatorAction.WARN,
            title="Suspicious newsletter link",
            recommended_actions="Only continue if you expected this page.",
        ),
    )
    index = build_index([("custom", [warn])])
    reported: list[Detection] = []
    proxy = ProtectionProxy(index=lambda: index, on_detection=reported.append, clock=clock)

    with ProxyThread(proxy) as running, playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *CHROMIUM_ARGS,
                f"--proxy-server={running.url}",
                "--proxy-bypass-list=<-loopback>",
            ],
        )
        try:
            page = browser.new_page()

            # The pilot's test URL: blocked by the builtin rule, with the explanation.
            response = page.goto("http://smartscreentestratings2.net/")
            assert response is not None and response.status == 403
            expect(page.locator("h1")).to_have_text("This page was blocked because it is unsafe")
            expect(page.locator("main")).to_contain_text("Phishing test page")
            expect(page.locator("main")).to_contain_text("built-in rule pilot-test-target")
            expect(page.locator("main")).to_contain_text("contact your IT administrator")
            page.screenshot(path=str(tmp_path / "01-blocked.png"), full_page=True)

            # A Warn indicator on a local origin's page: the interstitial, then the origin.
            url = f"http://127.0.0.1:{origin_port}/warn-me"
            response = page.goto(url)
            assert response is not None and response.status == 200
            expect(page.locator("h1")).to_have_text("This page may be unsafe")
            expect(page.locator("main")).to_contain_text("Suspicious newsletter link")
            expect(page.locator("main")).to_contain_text("Only continue if you expected this page.")
            page.screenshot(path=str(tmp_path / "02-warning.png"), full_page=True)
            page.get_by_role("button", name="Continue anyway").click()
            expect(page).to_have_url(url)
            expect(page.locator("h1")).to_have_text("Welcome to the origin")
            page.screenshot(path=str(tmp_path / "03-continued.png"), full_page=True)

            # Reloading stays on the origin: the allowance holds.
            page.reload()
            expect(page.locator("h1")).to_have_text("Welcome to the origin")
        finally:
            browser.close()

    assert [d.title for d in reported] == [
        "Phishing warning: smartscreentestratings2.net",
        "Phishing warning: 127.0.0.1/warn-me",
        "Warning overlooked: 127.0.0.1/warn-me",
    ]
    assert [dict(d.evidence)["decided_by"] for d in reported] == [
        "builtin:pilot-test-target",
        "indicator:ind-e2e",
        "indicator:ind-e2e",
    ]
    assert list(proxy.reported) == reported
