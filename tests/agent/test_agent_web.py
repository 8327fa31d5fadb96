"""The agent's web protection end to end: sets synced from the server, kept on disk, enforced
offline by the local proxy, and its detections delivered with the next check-in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Api
from openmtd.agent import outbox, web
from openmtd.agent import state as agent_state
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.protection.service import LocalProtection
from openmtd.agent.runner import run_once
from openmtd.cli.serve import ServerThread
from openmtd.domain.enums import EnrollmentScenario
from openmtd.engines.privacy import PrivacySettings

TODAY = date(2026, 11, 26)
SCENARIO = "android-work-profile"


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def enrolled(server: ServerThread, api: Api, state_dir: Path, exclude_url: bool = False) -> None:
    plan = plan_from_options(
        server_url=server.url,
        onboarding_token=api.onboarding_token(tags=["field"]),
        scenario=EnrollmentScenario(SCENARIO),
    )
    if exclude_url:
        plan = replace(plan, privacy=PrivacySettings(exclude_url_in_report=True))
    onboard(
        plan,
        simulate(SCENARIO, seed=4, today=TODAY),
        confirm=lambda _q: True,
        state_dir=state_dir,
        collector=agent_state.Collector("simulated", SCENARIO, 4, TODAY.isoformat()),
        now=datetime.now(UTC),
    )


def indicator(api: Api, value: str, action: str = "Block", **extra: Any) -> None:
    r = api.client.post(
        "/api/web/indicators",
        json={"type": "domain", "value": value, "action": action, **extra},
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text


def run(state_dir: Path) -> Any:
    return run_once(state_dir, simulate(SCENARIO, seed=4, today=TODAY), now=datetime.now(UTC))


def test_sets_sync_only_when_changed_and_protect_offline(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    enrolled(server, api, state_dir)
    indicator(api, "blocked-by-admin.example", title="Admin says no")
    indicator(api, "only-for-sales.example", device_groups=["sales"])
    first = run(state_dir)
    assert first.sync == "updated"
    settings = web.load_settings(state_dir)
    assert "field" in settings.device_groups
    assert web.stored_revision(state_dir, "custom") is not None
    index = web.load_index(state_dir)
    now = datetime.now(UTC)
    groups = frozenset(settings.device_groups)
    assert index.check_host("x.blocked-by-admin.example", now=now, device_groups=groups).blocks
    assert index.check_host("only-for-sales.example", now=now, device_groups=groups).action is None
    # nothing changed: 304, and the set is not downloaded again
    again = run(state_dir)
    assert again.sync == "unchanged"
    # a new indicator reaches the agent at its next sync
    indicator(api, "new-today.example")
    assert run(state_dir).sync == "updated"
    assert web.load_index(state_dir).check_host("new-today.example", now=now).blocks
    # the server goes away: the proxy still blocks with what is on disk
    server.stop()
    protection = LocalProtection(state_dir, proxy_port=0)
    listening = protection.start()
    try:
        with httpx.Client(proxy=listening.proxy_url, timeout=10) as browser:
            page = browser.get("http://new-today.example/")
        assert page.status_code == 403
        assert "new-today.example" in page.text
    finally:
        protection.stop()
    pending = outbox.drain(state_dir)
    assert [d.category for d in pending] == ["Phishing"]


def test_blocks_become_alerts_at_the_next_checkin(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    enrolled(server, api, state_dir)
    indicator(api, "zz-phish.example", title="Kit 42")
    run(state_dir)
    seen: list[Any] = []
    protection = LocalProtection(state_dir, proxy_port=0, on_detection=seen.append)
    listening = protection.start()
    try:
        with httpx.Client(proxy=listening.proxy_url, timeout=10) as browser:
            assert browser.get("http://zz-phish.example/login").status_code == 403
    finally:
        protection.stop()
    assert len(seen) == 1
    result = run(state_dir)
    assert result.checkin is not None and result.checkin.alerts_raised == 1
    alerts = api.client.get(
        "/api/alerts", params={"category": "Phishing"}, headers=api.headers()
    ).json()["items"]
    assert len(alerts) == 1
    assert alerts[0]["severity"] == "Informational"
    assert "zz-phish.example" in alerts[0]["title"]
    assert outbox.pending(state_dir) == 0


def test_exclude_url_keeps_the_site_off_the_server(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    enrolled(server, api, state_dir, exclude_url=True)
    indicator(api, "very-private-zq.example")
    run(state_dir)
    protection = LocalProtection(state_dir, proxy_port=0)
    listening = protection.start()
    try:
        with httpx.Client(proxy=listening.proxy_url, timeout=10) as browser:
            assert browser.get("http://very-private-zq.example/a?b=c").status_code == 403
    finally:
        protection.stop()
    result = run(state_dir)
    assert result.checkin is not None and result.checkin.alerts_raised == 1
    body = api.client.get("/api/alerts", headers=api.headers()).text
    assert "Phishing warning" in body
    assert "very-private-zq" not in body
    device = agent_state.load(state_dir).device_id
    detail = api.client.get(f"/api/devices/{device}", headers=api.headers()).text
    assert "very-private-zq" not in detail


def test_anti_phishing_off_for_the_platform_judges_nothing(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    enrolled(server, api, state_dir)
    indicator(api, "still-listed.example")
    policy = api.client.get("/api/web/policy", headers=api.headers()).json()
    policy["anti_phishing"]["android"] = False
    assert api.client.put("/api/web/policy", json=policy, headers=api.headers()).status_code == 200
    run(state_dir)
    index = web.load_index(state_dir)
    now = datetime.now(UTC)
    assert index.check_host("still-listed.example", now=now).action is None
    assert index.check_host("smartscreentestratings2.net", now=now).action is None


def test_dns_listener_blocks_with_the_synced_set_and_forwards_the_rest(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    import dns.message
    import dns.query
    import dns.rcode

    from dnsfake import FakeUpstream

    state_dir = tmp_path / "agent"
    enrolled(server, api, state_dir)
    indicator(api, "dns-blocked.example")
    run(state_dir)
    with FakeUpstream({"fine.example": ["192.0.2.44"]}, ttl=30) as upstream:
        protection = LocalProtection(
            state_dir, proxy_port=0, dns_port=0, dns_upstream=upstream.address
        )
        listening = protection.start()
        try:
            assert listening.dns_address is not None
            host, port = listening.dns_address
            blocked = dns.query.udp(
                dns.message.make_query("www.dns-blocked.example", "A"), host, port=port, timeout=5
            )
            assert [str(r) for rrset in blocked.answer for r in rrset] == ["0.0.0.0"]
            fine = dns.query.tcp(
                dns.message.make_query("fine.example", "A"), host, port=port, timeout=5
            )
            assert fine.rcode() == dns.rcode.NOERROR
            assert [str(r) for rrset in fine.answer for r in rrset] == ["192.0.2.44"]
        finally:
            protection.stop()
    assert [d.category for d in outbox.drain(state_dir)] == ["Phishing"]
