"""App protection through the real API: APK uploads, the fleet-wide cache, malware alerts,
automatic remediation, app indicators, and "exclude app in report"."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from server_helpers import dump_database, error
from sqlalchemy import update

from apkbuild import benign_apk, trojan_like_apk
from conftest import Api
from openmtd.store.models import Device


@pytest.fixture(scope="module")
def apks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("apks")
    return {"trojan": trojan_like_apk(folder), "benign": benign_apk(folder)}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _app(path: Path, package: str, *, source: str = "sideloaded", name: str = "") -> dict[str, Any]:
    return {
        "identifier": package,
        "version": "1.0",
        "name": name or package,
        "install_source": source,
        "sha256": _sha(path),
    }


def _upload(api: Api, device: dict[str, Any], path: Path, sha: str | None = None) -> Any:
    return api.client.put(
        f"/api/agent/v1/devices/{device['device_id']}/apks/{sha or _sha(path)}",
        content=path.read_bytes(),
        headers={
            "Authorization": f"Bearer {device['device_credential']}",
            "Content-Type": "application/vnd.android.package-archive",
        },
    )


def _alerts(api: Api, device: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    r = api.client.get(
        "/api/alerts",
        params={"device_id": device["device_id"], **params},
        headers=api.headers("read-only"),
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _timeline(api: Api, device: dict[str, Any]) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers("read-only"))
    assert r.status_code == 200, r.text
    return list(r.json()["timeline"])


def test_unknown_apk_is_requested_analysed_once_and_alerts_the_fleet(
    api: Api, apks: dict[str, Path]
) -> None:
    trojan = apks["trojan"]
    first = api.enroll()
    answer = api.checkin(
        first, apps=[_app(trojan, "com.flashlight.bright", name="Bright Flashlight")]
    )
    assert answer["apk_requests"] == [_sha(trojan)]

    r = _upload(api, first, trojan)
    assert r.status_code == 201, r.text
    verdict = r.json()
    assert verdict["verdict"] == "malicious"
    assert verdict["already_known"] is False
    assert any("accessibility" in reason.lower() for reason in verdict["reasons"])

    [alert] = _alerts(api, first)
    assert alert["category"] == "Malware"
    assert alert["severity"] == "Medium"
    assert "Bright Flashlight" in alert["title"] and "com.flashlight.bright" in alert["title"]
    device = api.client.get(
        f"/api/devices/{first['device_id']}", headers=api.headers("read-only")
    ).json()
    assert device["risk_level"] == "Medium"

    # A second device with the same APK: judged from the cache at its check-in, never asked.
    second = api.enroll()
    answer = api.checkin(second, apps=[_app(trojan, "com.flashlight.bright")])
    assert answer["apk_requests"] == []
    assert answer["alerts_raised"] == 1
    assert [a["category"] for a in _alerts(api, second)] == ["Malware"]
    again = _upload(api, second, trojan)
    assert again.status_code == 200 and again.json()["already_known"] is True

    listing = api.client.get("/api/apps/analyses", headers=api.headers("read-only")).json()
    assert listing["total"] == 1
    assert listing["items"][0]["devices"] == 2
    assert listing["items"][0]["package"] == "com.flashlight.bright"


def test_alert_resolves_itself_when_the_app_leaves(api: Api, apks: dict[str, Path]) -> None:
    trojan, benign = apks["trojan"], apks["benign"]
    device = api.enroll()
    api.checkin(device, apps=[_app(trojan, "com.flashlight.bright")])
    assert _upload(api, device, trojan).status_code == 201
    assert len(_alerts(api, device, status="New")) == 1

    api.checkin(device, apps=[_app(benign, "com.example.notes", source="store")])
    [alert] = _alerts(api, device)
    assert alert["status"] == "Resolved"
    events = _timeline(api, device)
    remediation = [e for e in events if e["kind"] == "remediation"]
    assert remediation and "the app left the device" in remediation[0]["summary"]
    risk = api.client.get(
        f"/api/devices/{device['device_id']}", headers=api.headers("read-only")
    ).json()["risk_level"]
    assert risk == "Secured"


def test_store_apps_are_not_requested_and_benign_apks_raise_nothing(
    api: Api, apks: dict[str, Path]
) -> None:
    benign = apks["benign"]
    device = api.enroll()
    store = api.checkin(device, apps=[_app(benign, "com.example.notes", source="store")])
    assert store["apk_requests"] == []
    sideloaded = api.checkin(device, apps=[_app(benign, "com.example.notes")])
    assert sideloaded["apk_requests"] == [_sha(benign)]
    r = _upload(api, device, benign)
    assert r.status_code == 201 and r.json()["verdict"] == "clean"
    assert _alerts(api, device) == []


def test_upload_negative_cases(api: Api, apks: dict[str, Path]) -> None:
    trojan, benign = apks["trojan"], apks["benign"]
    owner = api.enroll()
    other = api.enroll()
    api.checkin(owner, apps=[_app(trojan, "com.flashlight.bright")])
    path = f"/api/agent/v1/devices/{owner['device_id']}/apks/{_sha(trojan)}"

    r = api.client.put(path, content=trojan.read_bytes())
    error(r, 401, "device_credential_required")
    r = api.client.put(
        path,
        content=trojan.read_bytes(),
        headers={"Authorization": f"Bearer {other['device_credential']}"},
    )
    error(r, 403, "not_your_device")
    # An APK that is not in the device's inventory is refused before the body is read.
    error(_upload(api, owner, benign), 409, "apk_not_in_inventory")
    # The body must hash to the SHA-256 in the path.
    r = api.client.put(
        path,
        content=benign.read_bytes(),
        headers={"Authorization": f"Bearer {owner['device_credential']}"},
    )
    error(r, 422, "hash_mismatch")
    assert api.client.get("/api/apps/analyses", headers=api.headers()).json()["total"] == 0


def test_upload_over_the_limit_is_refused(api: Api, apks: dict[str, Path]) -> None:
    api.app.state.ctx.settings.max_apk_upload_bytes = 2048
    trojan = apks["trojan"]
    device = api.enroll()
    api.checkin(device, apps=[_app(trojan, "com.flashlight.bright")])
    r = _upload(api, device, trojan)
    assert r.status_code == 413, r.text


def test_hostile_upload_is_unparseable_with_a_reason(api: Api) -> None:
    junk = b"PK\x03\x04" + bytes(range(256)) * 40
    sha = hashlib.sha256(junk).hexdigest()
    device = api.enroll()
    answer = api.checkin(
        device,
        apps=[
            {
                "identifier": "com.odd.file",
                "version": "1",
                "install_source": "unknown",
                "sha256": sha,
            }
        ],
    )
    assert answer["apk_requests"] == [sha]
    r = api.client.put(
        f"/api/agent/v1/devices/{device['device_id']}/apks/{sha}",
        content=junk,
        headers={"Authorization": f"Bearer {device['device_credential']}"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["verdict"] == "unparseable"
    assert r.json()["reasons"] and r.json()["reasons"][0]
    assert _alerts(api, device) == []


def test_app_indicators_raise_and_clear_alerts(api: Api, apks: dict[str, Path]) -> None:
    benign = apks["benign"]
    device = api.enroll()
    api.checkin(
        device,
        apps=[
            {**_app(benign, "com.example.notes", source="store"), "signer_sha1": "ab" * 20},
        ],
    )
    assert _alerts(api, device) == []
    r = api.client.post(
        "/api/web/indicators",
        json={
            "type": "cert_sha1",
            "value": "AB:" * 19 + "AB",
            "action": "Block",
            "title": "Known stalkerware signer",
        },
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text
    indicator_id = r.json()["id"]
    [alert] = _alerts(api, device)
    assert alert["category"] == "Malware" and alert["status"] == "New"
    assert "com.example.notes" in alert["title"]
    detail = api.client.get(f"/api/alerts/{alert['id']}", headers=api.headers("read-only")).json()
    assert "Known stalkerware signer" in detail["evidence"]["reasons"]

    r = api.client.delete(f"/api/web/indicators/{indicator_id}", headers=api.headers())
    assert r.status_code == 204
    [alert] = _alerts(api, device)
    assert alert["status"] == "Resolved"


def test_exclude_app_in_report_keeps_the_app_out_of_every_record(
    api: Api, apks: dict[str, Path]
) -> None:
    secret_package = "com.secretly.tracking.partner"
    secret_name = "Partner Tracker Deluxe"
    benign = apks["benign"]
    device = api.enroll()
    with api.app.state.ctx.sessions.begin() as db:
        db.execute(
            update(Device)
            .where(Device.id == device["device_id"])
            .values(
                privacy={
                    "exclude_url_in_report": False,
                    "exclude_app_in_report": True,
                    "vulnerability_privacy_mode": False,
                }
            )
        )
    r = api.client.post(
        "/api/web/indicators",
        json={
            "type": "file_sha256",
            "value": _sha(benign),
            "action": "Block",
            "title": "Bad build",
        },
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text
    apps = [{**_app(benign, secret_package, name=secret_name)}]
    answer = api.checkin(device, apps=apps)
    assert answer["apk_requests"] == []  # a device that excludes app details never uploads
    [alert] = _alerts(api, device)
    assert alert["category"] == "Malware"
    assert "excluded" in alert["title"]
    # The same report again, then a changed one: the opaque row is kept, nothing leaks.
    api.checkin(device, apps=apps)
    other = {"identifier": "com.example.other", "version": "2", "install_source": "store"}
    api.checkin(device, apps=[*apps, other])
    assert len(_alerts(api, device, status="New")) == 1
    error(_upload(api, device, benign), 403, "apps_excluded")

    dump = dump_database(api.app)
    assert secret_package not in dump and secret_name not in dump
    for url in (
        f"/api/alerts?device_id={device['device_id']}",
        f"/api/alerts/{alert['id']}",
        f"/api/devices/{device['device_id']}",
    ):
        body = api.client.get(url, headers=api.headers()).text
        assert secret_package not in body and secret_name not in body, url

    # Removing the app resolves the alert, as for anyone.
    api.checkin(device, apps=[other])
    assert [a["status"] for a in _alerts(api, device)] == ["Resolved"]


def test_check_and_roles(api: Api, apks: dict[str, Path]) -> None:
    r = api.client.post(
        "/api/web/indicators",
        json={"type": "package", "value": "com.bad.spy", "action": "Block", "title": "Spy"},
        headers=api.headers(),
    )
    assert r.status_code == 201
    r = api.client.post(
        "/api/apps/check", json={"package": "com.bad.spy"}, headers=api.headers("read-only")
    )
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "malicious"
    assert r.json()["indicator_matches"]
    error(api.client.post("/api/apps/check", json={}, headers=api.headers()), 422, "empty_check")
    error(api.client.post("/api/apps/rescan", headers=api.headers("analyst")), 403, "role_required")
    r = api.client.post("/api/apps/rescan", headers=api.headers())
    assert r.status_code == 200
    r = api.client.post(
        "/api/apps/analyses",
        content=apks["benign"].read_bytes(),
        headers={**api.headers("analyst"), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["verdict"] == "clean" and r.json()["package"] == "com.example.notes"
    error(
        api.client.post("/api/apps/analyses", content=b"x", headers=api.headers("read-only")),
        403,
        "role_required",
    )
