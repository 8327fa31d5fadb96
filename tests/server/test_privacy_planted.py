"""Privacy controls, proven by planted values: a URL host, an app package and name, an SSID, a
BSSID and a certificate subject that appear nowhere once the device's privacy excludes them.

An old (or hostile) agent sends everything a device sees with privacy off: detections with
URLs, app details and network details, raw network observations, an app inventory. Through
every path that could carry them (check-ins, web, malware, network, inventory changes,
resolutions, DoH queries, APK uploads, the device user's own privacy change) the server keeps
none of them: not in any row of any table, any JSON answer of the API, any console page, the
alert exports (CEF, OCSF) or the logs. The control runs the same flow with privacy off and
finds every value in each place, which proves the scans can fail.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import pytest
from fastapi.testclient import TestClient
from server_helpers import device_auth, error
from sqlalchemy import select

from conftest import Api
from dnsfake import FakeUpstream
from openmtd import __version__
from openmtd.config import Settings
from openmtd.domain.enums import Role
from openmtd.engines.export.cef import alert_cef
from openmtd.engines.export.event import AlertChange
from openmtd.engines.export.ocsf import detection_finding
from openmtd.engines.export.webhook import compact_json
from openmtd.server.export.alerts import alert_device, alert_event
from openmtd.server.users.service import create_user
from openmtd.store.models import Alert, Base, Device

URL_HOST = "planted-url-7f3a9c.example"
APP_PACKAGE = "com.planted.secretapp7f3a9c"
APP_NAME = "Plantedsecret7f3a9c Diary"
SSID = "PlantedSSID-7f3a9c"
BSSID = "02:7f:3a:9c:7f:3b"
CERT_CN = "planted-cert-7f3a9c"
MARKERS = {
    "url": URL_HOST,
    "app package": APP_PACKAGE,
    "app name": APP_NAME,
    "ssid": SSID,
    "bssid": BSSID,
    "certificate": CERT_CN,
}
APP_SHA = "7f3a9c" + "a1" * 29
APP_SHA_2 = "7f3a9c" + "b2" * 29
PHISH_DOMAIN = "phish-7f.test"  # the admin's indicator: it names none of the planted values
PASSWORD = "correct horse battery staple"
LOGGERS = ("openmtd", "uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "httpx2", "httpcore")
ALL_KEYS = [
    "exclude_url_in_report",
    "exclude_app_in_report",
    "vulnerability_privacy_mode",
    "network_protection_privacy",
]


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(silent=True) as up:  # allowed names time out: the failure is logged
        yield up


@pytest.fixture
def settings(database_url: str, tmp_path: Path, upstream: FakeUpstream) -> Settings:
    extra: dict[str, Any] = {}
    if "export_sinks" in Settings.model_fields:  # the alert outbox then holds every change
        extra = {
            "export_sinks": [
                {"name": "siem", "kind": "syslog", "host": "127.0.0.1", "transport": "udp"}
            ],
            "export_worker": False,
        }
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        public_url="https://mtd.example.test",
        migrate_on_start=False,
        feed_scheduler=False,
        android_revocation_source="",
        dns_upstream=upstream.address,
        dns_upstream_timeout_seconds=0.2,
        # The device user may change every key on the planted group's devices.
        privacy_policy=[{"device_groups": ["planted"], "user_toggles": ALL_KEYS}],
        **extra,
    )


# -- what an agent with privacy off would send ----------------------------------------------


def web_detections() -> list[dict[str, Any]]:
    url = f"https://{URL_HOST}/login?next=/inbox"
    evidence = {
        "action": "block",
        "decided_by": "indicator:custom",
        "channel": "proxy",
        "indicator_title": "Test phish",
        "url": url,
        "expression": URL_HOST,
        "reason": f"domain {URL_HOST} is listed",
        "domain": URL_HOST,
        "host": URL_HOST,
        "hostname": URL_HOST,
        "referrer": f"https://{URL_HOST}/",
    }
    return [
        {
            "category": "Phishing",
            "title": f"Phishing warning: {URL_HOST}",
            "severity": "Informational",
            "key": f"web:warning:indicator:custom:{URL_HOST}",
            "evidence": evidence,
        },
        {
            "category": "Phishing",
            "title": f"Warning overlooked: {URL_HOST}",
            "severity": "Low",
            "key": f"web:overlooked:indicator:custom:{URL_HOST}",
            "evidence": {**evidence, "action": "warn"},
        },
        {  # an Audit indicator: a timeline event, not an alert
            "category": "Phishing",
            "title": f"Phishing warning: {URL_HOST}",
            "severity": "Informational",
            "key": f"web:warning:indicator:custom:audit:{URL_HOST}",
            "evidence": {**evidence, "action": "audit"},
            "timeline_only": True,
        },
    ]


def app_detections() -> list[dict[str, Any]]:
    return [
        {
            "category": "Malware",
            "title": f"Malicious app: {APP_NAME} ({APP_PACKAGE})",
            "severity": "Medium",
            "key": f"app:{APP_PACKAGE}",
            "evidence": {
                "package": APP_PACKAGE,
                "app_name": APP_NAME,
                "bundle_id": APP_PACKAGE,
                "sha256": APP_SHA,
                "reasons": f"{APP_PACKAGE} ({APP_NAME}) matches a stalkerware family",
                "verdict": "malicious",
                "score": "95",
            },
        },
        {
            "category": "PotentiallyUnwantedApp",
            "title": f"Potentially unwanted app: {APP_NAME}",
            "severity": "Low",
            "key": f"pua:{APP_PACKAGE}",
            "evidence": {"app": APP_NAME, "identifier": APP_PACKAGE, "verdict": "pua"},
        },
    ]


def network_detections(*, resolved: bool = False) -> list[dict[str, Any]]:
    wifi = {"ssid": SSID, "bssid": BSSID, "security": "open", "rule": "evil_twin"}
    cert = {
        "subject": f"CN={CERT_CN}",
        "issuer": f"CN={CERT_CN} Root",
        "host": "canary.example.net",
        "sha256": "cd" * 32,
        "verdict": "intercepted",
    }
    return [
        {
            "category": "RogueWifi",
            "title": f"Evil twin of {SSID} ({BSSID})",
            "severity": "Low",
            "key": f"wifi.evil_twin|{BSSID}|{SSID}",
            "evidence": wifi,
            "resolved": resolved,
        },
        {
            "category": "OpenWifi",
            "title": f"Open Wi-Fi network {SSID}",
            "severity": "Informational",
            "key": f"wifi.open|{SSID}",
            "evidence": {**wifi, "rule": "open"},
            "timeline_only": True,
        },
        {
            "category": "TlsInterception",
            "title": f"TLS interception by {CERT_CN}",
            "severity": "Medium",
            "key": f"tls.intercepted:canary.example.net:443:{CERT_CN}",
            "evidence": cert,
            "resolved": resolved,
        },
        {
            "category": "RogueCertificate",
            "title": f"Suspicious certificate CN={CERT_CN}",
            "severity": "Low",
            "key": f"cert.user_root:{CERT_CN}",
            "evidence": {**cert, "verdict": "user-installed"},
        },
    ]


def observations() -> list[dict[str, Any]]:
    return [
        {"kind": "wifi", "attributes": {"ssid": SSID, "bssid": BSSID, "security": "open"}},
        {
            "kind": "tls",
            "attributes": {"host": "canary.example.net", "subject": f"CN={CERT_CN}"},
        },
    ]


def apps(*, second: bool = False) -> list[dict[str, Any]]:
    listed = [
        {
            "identifier": APP_PACKAGE,
            "name": APP_NAME,
            "version": "1.0",
            "install_source": "sideloaded",
            "sha256": APP_SHA,
        },
        {
            "identifier": "com.example.notes",
            "name": "Notes",
            "version": "2",
            "install_source": "store",
        },
    ]
    if second:
        listed.append(
            {
                "identifier": f"{APP_PACKAGE}.helper",
                "name": f"{APP_NAME} Helper",
                "version": "1.0",
                "install_source": "sideloaded",
                "sha256": APP_SHA_2,
            }
        )
    return listed


# -- the flow -------------------------------------------------------------------------------


@dataclass
class Flow:
    devices: list[dict[str, Any]] = field(default_factory=list)


def doh_get(client: TestClient, path: str, name: str) -> None:
    wire = dns.message.make_query(name, "A", id=0).to_wire()
    q = base64.urlsafe_b64encode(wire).rstrip(b"=").decode()
    r = client.get(path, params={"dns": q}, headers={"Accept": "application/dns-message"})
    assert r.status_code == 200, r.text


def doh_post(client: TestClient, path: str, name: str) -> None:
    wire = dns.message.make_query(name, "AAAA").to_wire()
    r = client.post(path, content=wire, headers={"Content-Type": "application/dns-message"})
    assert r.status_code == 200, r.text


def drive(api: Api, *, private: bool) -> Flow:
    """Every path that could carry a planted value, for three devices:
    - a work-profile device whose user turns every exclusion on (the admin allows it);
    - a device enrolled with the exclusions (and vulnerability privacy mode) from its managed
      configuration;
    - a personal-profile device on the first one's phone, with the reference defaults.
    With `private` False the same devices send the same things with every exclusion off."""
    admin = api.headers()
    for body in (
        {"type": "domain", "value": PHISH_DOMAIN, "action": "Block", "title": "Test phish"},
        {"type": "file_sha256", "value": APP_SHA, "action": "Block", "title": "Bad build"},
        {"type": "file_sha256", "value": APP_SHA_2, "action": "Block", "title": "Bad helper"},
    ):
        r = api.client.post("/api/web/indicators", json=body, headers=admin)
        assert r.status_code == 201, r.text
    token = api.onboarding_token(device_group="planted")
    off = dict.fromkeys(ALL_KEYS, False)
    on = {**off, **dict.fromkeys(ALL_KEYS, private)}
    hardware = uuid.uuid4().hex

    toggled = api.enroll("android-work-profile", token=token, hardware_id=hardware, privacy=off)
    if private:  # the device user turns the exclusions on (vulnerability mode stays off)
        r = api.client.put(
            f"/api/agent/v1/devices/{toggled['device_id']}/privacy",
            json={**on, "vulnerability_privacy_mode": False},
            headers=device_auth(toggled),
        )
        assert r.status_code == 200, r.text
    configured = api.enroll("android-cobo", token=token, privacy=on)
    personal = api.enroll(
        "android-personal-profile",
        token=token,
        hardware_id=hardware,
        **({} if private else {"privacy": off}),
    )
    flow = Flow(
        [
            {**toggled, "_scenario": "android-work-profile"},
            {**configured, "_scenario": "android-cobo"},
            {**personal, "_scenario": "android-personal-profile"},
        ]
    )
    for device in flow.devices:
        api.checkin(
            device,
            apps=apps(),
            network_observations=observations(),
            detections=[*web_detections(), *app_detections(), *network_detections()],
        )
        # The inventory changes (a second flagged app), a network alert resolves.
        api.checkin(
            device,
            apps=apps(second=True),
            network_observations=observations(),
            detections=network_detections(resolved=True),
        )
        # The app leaves: its alert resolves with a remediation event.
        api.checkin(device, apps=apps()[1:])
        upload = api.client.put(
            f"/api/agent/v1/devices/{device['device_id']}/apks/{APP_SHA}",
            content=b"not an apk",
            headers={
                **device_auth(device),
                "Content-Type": "application/vnd.android.package-archive",
            },
        )
        if private:
            error(upload, 403, "apps_excluded")
        else:
            assert upload.status_code in (409, 422), upload.text

        # Protective DNS: a blocked name (a detection) and an allowed one (upstream fails).
        r = api.client.post(f"/api/devices/{device['device_id']}/dns-profile", headers=admin)
        assert r.status_code == 201, r.text
        path = str(r.json()["doh_url"]).removeprefix("https://mtd.example.test")
        doh_get(api.client, path, f"www.{URL_HOST}.{PHISH_DOMAIN}")
        doh_post(api.client, path, f"{URL_HOST}.{PHISH_DOMAIN}")
        doh_get(api.client, path, f"cdn.{URL_HOST}")
    return flow


# -- the scans --------------------------------------------------------------------------------


def found(text: str) -> set[str]:
    low = text.lower()
    return {name for name, value in MARKERS.items() if value.lower() in low}


def database_text(app: Any) -> str:
    """Every column of every row of every table."""
    lines = []
    with app.state.ctx.sessions() as db:
        for table in Base.metadata.sorted_tables:
            lines.extend(f"{table.name}: {tuple(row)!r}" for row in db.execute(select(table)))
    return "\n".join(lines)


def api_texts(api: Api, flow: Flow) -> dict[str, str]:
    """Every JSON (and CSV) answer of the admin API's GET routes that need no parameter or a
    device or alert id, for the planted devices and their alerts; and the device's own views."""
    with warnings.catch_warnings():  # a duplicate operation id elsewhere is not this test's
        warnings.simplefilter("ignore", UserWarning)
        schema = api.app.openapi()
    with api.app.state.ctx.sessions() as db:
        alert_ids = [
            a.id
            for a in db.scalars(
                select(Alert).where(Alert.device_id.in_([d["device_id"] for d in flow.devices]))
            )
        ]
    assert alert_ids
    texts: dict[str, str] = {}
    for path, item in schema["paths"].items():
        if "get" not in item or not path.startswith("/api/") or path.startswith("/api/agent/"):
            continue
        params = set(re.findall(r"{(\w+)}", path))
        if params - {"device_id", "alert_id"}:
            continue
        urls = [path]
        if "device_id" in params:
            urls = [path.replace("{device_id}", d["device_id"]) for d in flow.devices]
        if "alert_id" in params:
            urls = [path.replace("{alert_id}", str(i)) for i in alert_ids]
        for url in urls:
            for query in ({"limit": 200}, {}, {"format": "csv", "limit": 200}):
                r = api.client.get(url, params=query, headers=api.headers())
                assert r.status_code < 500, (url, r.text)
                if r.status_code == 200:
                    texts[f"{url}?{'&'.join(query)}"] = r.text
    for device in flow.devices:
        base = f"/api/agent/v1/devices/{device['device_id']}"
        for url in (base, f"{base}/privacy", f"{base}/sync", f"{base}/apk-requests"):
            texts[url] = api.client.get(url, headers=device_auth(device)).text
    assert any("/api/devices/" in u for u in texts) and any("/api/alerts/" in u for u in texts)
    return texts


def console_texts(api: Api, flow: Flow) -> dict[str, str]:
    """The console's pages of the devices, their alerts, and the lists, as an admin sees them."""
    with api.app.state.ctx.sessions.begin() as db:
        create_user(
            db,
            username="privacy-admin",
            password=PASSWORD,
            role=Role.ADMIN,
            actor="t",
            now=api.clock(),
        )
    browser = TestClient(api.app, base_url="http://testserver", follow_redirects=False)
    form = browser.get("/console/login")
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form.text))
    r = browser.post(
        "/console/login", data={**hidden, "username": "privacy-admin", "password": PASSWORD}
    )
    assert r.status_code == 303, r.text
    with api.app.state.ctx.sessions() as db:
        alert_ids = [
            a.id
            for a in db.scalars(
                select(Alert).where(Alert.device_id.in_([d["device_id"] for d in flow.devices]))
            )
        ]
    pages = [
        "/console",
        "/console/devices",
        "/console/alerts",
        "/console/alerts?status=Resolved",
        "/console/apps",
        "/console/software",
        "/console/vulnerabilities",
        "/console/audit",
        *(f"/console/devices/{d['device_id']}" for d in flow.devices),
        *(f"/console/alerts/{i}" for i in alert_ids),
    ]
    texts = {}
    for page in pages:
        r = browser.get(page)
        assert r.status_code == 200, (page, r.status_code)
        texts[page] = r.text
    browser.close()
    return texts


def export_texts(api: Api, flow: Flow) -> dict[str, str]:
    """The alert exports a SIEM receives: CEF and OCSF of every alert of the devices."""
    texts = {}
    with api.app.state.ctx.sessions() as db:
        for d in flow.devices:
            device = db.get(Device, d["device_id"])
            for alert in db.scalars(select(Alert).where(Alert.device_id == d["device_id"])):
                event = alert_event(
                    alert,
                    alert_device(device, d["device_id"]),
                    change=AlertChange.RAISED,
                    now=api.clock(),
                )
                texts[f"cef {alert.id}"] = alert_cef(event, version=__version__)
                texts[f"ocsf {alert.id}"] = compact_json(
                    detection_finding(event, version=__version__)
                ).decode()
    assert texts
    return texts


def where(texts: dict[str, str]) -> dict[str, list[str]]:
    """marker name -> the places it was found."""
    places: dict[str, list[str]] = {}
    for place, text in texts.items():
        for name in found(text):
            places.setdefault(name, []).append(place)
    return places


def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


# -- the tests --------------------------------------------------------------------------------


def test_excluded_values_appear_nowhere(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    capture_everything(caplog)
    flow = drive(api, private=True)

    # Every privacy control is on for each device, and the flow did raise alerts and events.
    for device in flow.devices:
        d = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
        assert d["privacy"]["exclude_url_in_report"] and d["privacy"]["exclude_app_in_report"]
        assert d["privacy"]["network_protection_privacy"]
        categories = {a["category"] for a in d["alerts"]}
        assert {"Phishing", "Malware", "RogueWifi", "TlsInterception"} <= categories
        assert {e["kind"] for e in d["timeline"]} >= {"Phishing", "OpenWifi"}
        assert d["signals"]["network"] == []

    assert found(database_text(api.app)) == set()
    assert where(api_texts(api, flow)) == {}
    pages = console_texts(api, flow)
    assert where(pages) == {}
    # The admin sees each device's settings, and which ones its user may change.
    page = pages[f"/console/devices/{flow.devices[0]['device_id']}"]
    assert "Hide URL and domain in phishing reports" in page
    assert page.count("the device user may change this") == len(ALL_KEYS)
    assert where(export_texts(api, flow)) == {}
    assert caplog.records  # the capture works (the control proves it finds markers)
    assert "upstream" in caplog.text  # the allowed name reached the resolver's failure path
    assert found(caplog.text) == set()
    assert found(" ".join(str(r.args) for r in caplog.records)) == set()


def test_control_with_privacy_off_the_scans_find_every_value(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    capture_everything(caplog)
    flow = drive(api, private=False)
    everything = set(MARKERS)

    assert found(database_text(api.app)) == everything
    in_api = where(api_texts(api, flow))
    assert set(in_api) == everything
    assert any("/api/alerts" in place for place in in_api["url"])
    assert set(where(console_texts(api, flow))) == everything
    assert set(where(export_texts(api, flow))) >= {"url", "app package", "ssid", "certificate"}
    # The log scan: a record that carries a marker is found, whichever logger wrote it.
    logging.getLogger("openmtd.server.dns").info("canary %s", SSID)
    assert "ssid" in found(caplog.text)
