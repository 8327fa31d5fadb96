from __future__ import annotations

from conftest import Api


def test_enroll_checkin_and_list(api: Api) -> None:
    device = api.enroll("android-work-profile")
    result = api.checkin(device, apps=[{"identifier": "com.example.a", "version": "1.0"}])
    assert result["risk_level"] == "Secured"
    r = api.client.get("/api/devices", headers=api.headers("read-only"))
    assert r.status_code == 200
    assert r.json()["total"] == 1
    assert r.json()["items"][0]["app_count"] == 1
