"""The device page's integrity card and the device list's integrity badge."""

from __future__ import annotations

from console_helpers import signed_in

from conftest import Api

ROOTED = [
    {"name": "su_paths", "value": "/system/xbin/su"},
    {"name": "selinux", "value": "permissive"},
    {"name": "evil<script>", "value": "<img src=x onerror=alert(1)>"},
]


def test_a_rooted_device_shows_its_findings_and_the_list_badge(api: Api) -> None:
    device = api.enroll()
    api.checkin(device, integrity_signals=ROOTED)
    browser = signed_in(api.app, api.clock, "read-only")
    page = browser.get(f"/console/devices/{device['device_id']}")
    assert page.status_code == 200
    text = page.text
    assert 'id="integrity"' in text
    assert '<span class="badge integrity-compromised">Compromised</span>' in text
    assert "su binary present" in text
    assert "android.su_binary" in text
    assert 'aria-label="integrity score 100 of 100"' in text
    assert "<img src=x" not in text  # device-reported values are escaped
    assert " style=" not in text  # the strict CSP forbids inline styles
    listing = browser.get("/console/devices").text
    assert '<span class="badge integrity-compromised">Compromised</span>' in listing


def test_a_device_without_signals_says_so(api: Api) -> None:
    device = api.enroll()
    page = signed_in(api.app, api.clock, "read-only").get(f"/console/devices/{device['device_id']}")
    assert "No integrity signals or attestation evidence yet." in page.text
    assert '<span class="badge integrity-unknown">Unknown</span>' in page.text
