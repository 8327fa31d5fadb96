"""Device integrity through the real API: signals, attestation challenges and evidence,
verdicts, the High alerts and their automatic resolution, the compromise response policy."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from server_helpers import error

from conftest import SHARED, Api
from openmtd.agent.attest.android_keystore import AttestationCA
from openmtd.agent.attest.apple_app_attest import AppAttestCA, SoftwareAppAttest
from openmtd.agent.attest.play_integrity_issuer import PlayIntegrityIssuer, verdict_payload
from openmtd.config import Settings
from openmtd.engines.integrity.roots import google_key_attestation_anchors

APP_ID = "TEAM123456.org.openmtd.agent"
PACKAGE = "org.openmtd.agent"
CERT_SHA256 = "ab" * 32
ROOTED = [
    {"name": "su_paths", "value": "/system/xbin/su"},
    {"name": "verified_boot_state", "value": "orange"},
]
CLEAN_ANDROID = [
    {"name": "ro.debuggable", "value": "0"},
    {"name": "ro.secure", "value": "1"},
    {"name": "ro.build.tags", "value": "release-keys"},
    {"name": "verified_boot_state", "value": "green"},
    {"name": "bootloader_locked", "value": "true"},
    {"name": "selinux", "value": "enforcing"},
]
JAILBROKEN = [{"name": "jailbreak_files", "value": "/var/jb,/Applications/Sileo.app"}]
CLEAN_IOS = [{"name": "fork_allowed", "value": "false"}, {"name": "suspicious_files", "value": "0"}]


@pytest.fixture(scope="module")
def android_ca() -> AttestationCA:
    return AttestationCA.generate()


@pytest.fixture(scope="module")
def apple_ca() -> AppAttestCA:
    return AppAttestCA.generate()


@pytest.fixture(scope="module")
def play() -> PlayIntegrityIssuer:
    return PlayIntegrityIssuer.generate()


@pytest.fixture
def settings(
    database_url: str,
    tmp_path: Path,
    android_ca: AttestationCA,
    apple_ca: AppAttestCA,
    play: PlayIntegrityIssuer,
) -> Settings:
    android_roots = tmp_path / "android-roots.pem"
    android_roots.write_bytes(android_ca.root_pem())
    apple_roots = tmp_path / "apple-roots.pem"
    apple_roots.write_bytes(apple_ca.root_pem())
    decryption, verification = play.keys_base64()
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        migrate_on_start=False,
        feed_scheduler=False,
        android_attestation_roots_file=android_roots,
        android_revocation_source=str(SHARED / "data" / "android-key-attestation" / "status.json"),
        play_integrity_package=PACKAGE,
        play_integrity_decryption_key=decryption,  # type: ignore[arg-type]
        play_integrity_verification_key=verification,
        play_integrity_certificate_sha256=[CERT_SHA256],
        app_attest_app_ids=[APP_ID],
        app_attest_roots_file=apple_roots,
    )


def _auth(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['device_credential']}"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _ios(api: Api) -> dict[str, Any]:
    device = api.enroll("ios-supervised")
    device["_scenario"] = "ios-supervised"
    return device


def _challenge(api: Api, device: dict[str, Any], kind: str) -> dict[str, Any]:
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/integrity/challenges",
        json={"kind": kind},
        headers=_auth(device),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _submit(api: Api, device: dict[str, Any], body: dict[str, Any], expect: int = 200) -> Any:
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/integrity/evidence",
        json=body,
        headers=_auth(device),
    )
    assert r.status_code == expect, r.text
    return r.json()


def _key_evidence(
    api: Api, device: dict[str, Any], ca: AttestationCA, **attributes: Any
) -> dict[str, Any]:
    issued = _challenge(api, device, "android_key")
    chain = ca.attest(_unb64(issued["challenge"]), now=api.clock(), **attributes)
    return {
        "kind": "android_key",
        "challenge_id": issued["challenge_id"],
        "challenge": issued["challenge"],
        "chain": [_b64(c) for c in chain],
    }


def _integrity(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    r = api.client.get(
        f"/api/devices/{device['device_id']}/integrity", headers=api.headers("read-only")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _alerts(api: Api, device: dict[str, Any]) -> list[dict[str, Any]]:
    r = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers("analyst")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------


def test_rooted_signals_raise_a_high_alert_that_resolves_when_they_are_gone(api: Api) -> None:
    device = api.enroll()
    answer = api.checkin(device, integrity_signals=ROOTED)
    assert answer["integrity_state"] == "compromised"
    assert answer["risk_level"] == "High"
    assert answer["compromise_response"] == []  # the default policy responds on iOS only
    [alert] = _alerts(api, device)
    assert (alert["title"], alert["severity"], alert["category"]) == (
        "Rooted device",
        "High",
        "Root",
    )
    assert "su" in alert["evidence"]["findings"]
    verdict = _integrity(api, device)
    assert verdict["state"] == "compromised"
    assert {f["rule_id"] for f in verdict["findings"]} >= {"android.su_binary"}

    # The same signals again: no new alert, no new timeline entry.
    api.checkin(device, integrity_signals=ROOTED)
    assert len(_alerts(api, device)) == 1

    answer = api.checkin(device, integrity_signals=CLEAN_ANDROID)
    assert answer["integrity_state"] == "clean"
    assert answer["risk_level"] == "Secured"
    [alert] = _alerts(api, device)
    assert alert["status"] == "Resolved"


def test_jailbroken_ios_gets_the_reference_alert_and_the_compromise_response(api: Api) -> None:
    device = _ios(api)
    answer = api.checkin(device, integrity_signals=JAILBROKEN)
    assert answer["integrity_state"] == "compromised"
    assert answer["compromise_response"] == ["stop_web_protection", "clear_local_data"]
    [alert] = _alerts(api, device)
    assert (alert["title"], alert["severity"], alert["category"]) == (
        "Jailbroken device",
        "High",
        "Jailbreak",
    )
    assert api.checkin(device, integrity_signals=CLEAN_IOS)["compromise_response"] == []


def test_device_list_filters_by_integrity_state(api: Api) -> None:
    rooted, clean = api.enroll(), api.enroll()
    api.checkin(rooted, integrity_signals=ROOTED)
    api.checkin(clean, integrity_signals=CLEAN_ANDROID)
    r = api.client.get(
        "/api/devices", params={"integrity": "compromised"}, headers=api.headers("read-only")
    )
    assert [d["id"] for d in r.json()["items"]] == [rooted["device_id"]]
    assert r.json()["items"][0]["integrity_state"] == "compromised"
    summary = api.client.get("/api/integrity/summary", headers=api.headers("read-only")).json()
    assert summary["by_state"]["compromised"] == 1
    assert summary["by_state"]["clean"] == 1


# --------------------------------------------------------------------------------------------
# Android Key Attestation
# --------------------------------------------------------------------------------------------


def test_key_attestation_is_requested_verified_and_counted(
    api: Api, android_ca: AttestationCA
) -> None:
    device = api.enroll()
    answer = api.checkin(device, integrity_signals=CLEAN_ANDROID)
    assert set(answer["attestation_requests"]) == {"android_key", "play_integrity"}
    result = _submit(api, device, _key_evidence(api, device, android_ca))
    assert result["accepted"] is True, result
    assert result["integrity_state"] == "clean"
    assert result["facts"]["verified_boot_state"] == "Verified"
    assert result["facts"]["revocation_list"].startswith("file")
    answer = api.checkin(device, integrity_signals=CLEAN_ANDROID)
    assert answer["attestation_requests"] == ["play_integrity"]

    # The attested bootloader is unlocked: hardware says what signals could hide.
    evidence = _key_evidence(api, device, android_ca, device_locked=False)
    result = _submit(api, device, evidence)
    assert result["accepted"] is True
    assert result["integrity_state"] == "compromised"
    assert any(f["conclusive"] for f in result["findings"])
    [alert] = _alerts(api, device)
    assert alert["title"] == "Rooted device"
    verdict = _integrity(api, device)
    assert [a["accepted"] for a in verdict["attestations"]] == [True, True]
    assert verdict["attested"]["android_key"]


def test_attestation_findings_age_out(api: Api, android_ca: AttestationCA) -> None:
    device = api.enroll()
    _submit(api, device, _key_evidence(api, device, android_ca, device_locked=False))
    assert _integrity(api, device)["state"] == "compromised"
    api.clock.advance(hours=24 * 3 + 1)
    answer = api.checkin(device, integrity_signals=CLEAN_ANDROID)
    assert answer["integrity_state"] == "clean"
    assert "android_key" in answer["attestation_requests"]


def test_challenges_are_single_use_expiring_and_bound(api: Api, android_ca: AttestationCA) -> None:
    device, other = api.enroll(), api.enroll()
    evidence = _key_evidence(api, device, android_ca)
    assert _submit(api, device, evidence)["accepted"] is True
    replay = _submit(api, device, evidence)
    assert (replay["accepted"], replay["code"]) == (False, "challenge_replayed")

    stale = _key_evidence(api, device, android_ca)
    api.clock.advance(seconds=301)
    assert _submit(api, device, stale)["code"] == "challenge_expired"

    wrong = _key_evidence(api, device, android_ca)
    wrong["challenge"] = base64.urlsafe_b64encode(b"x" * 32).decode().rstrip("=")
    assert _submit(api, device, wrong)["code"] == "challenge_mismatch"

    # Another device's challenge is unknown to this one, whatever the nonce.
    theirs = _key_evidence(api, other, android_ca)
    assert _submit(api, device, theirs)["code"] == "challenge_unknown"

    # Evidence of one kind against a challenge issued for another.
    issued = _challenge(api, device, "play_integrity")
    mixed = {**_key_evidence(api, device, android_ca), "challenge_id": issued["challenge_id"]}
    mixed["challenge"] = issued["challenge"]
    assert _submit(api, device, mixed)["code"] == "challenge_kind"

    # The wrong device's credential cannot submit at all.
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/integrity/evidence",
        json=evidence,
        headers=_auth(other),
    )
    error(r, 403, "not_your_device")


def test_open_challenges_are_limited(api: Api) -> None:
    device = api.enroll()
    for _ in range(8):
        _challenge(api, device, "android_key")
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/integrity/challenges",
        json={"kind": "android_key"},
        headers=_auth(device),
    )
    error(r, 429, "too_many_challenges")
    api.clock.advance(seconds=301)
    _challenge(api, device, "android_key")  # the expired ones were cleaned up


def test_kinds_that_do_not_fit_the_platform_are_refused(api: Api) -> None:
    android, iphone = api.enroll(), _ios(api)
    for device, kind in ((android, "app_attest"), (iphone, "android_key")):
        r = api.client.post(
            f"/api/agent/v1/devices/{device['device_id']}/integrity/challenges",
            json={"kind": kind},
            headers=_auth(device),
        )
        error(r, 422, "attestation_kind_unavailable")
    r = api.client.post(
        f"/api/agent/v1/devices/{iphone['device_id']}/integrity/challenges",
        json={"kind": "app_attest_assertion"},
        headers=_auth(iphone),
    )
    error(r, 409, "no_attested_key")


def test_a_real_google_rooted_chain_replayed_against_our_challenge_is_rejected(api: Api) -> None:
    """The sample TEE chain ends in Google's root, but its challenge ("abc") is not ours."""
    api.app.state.ctx.integrity.android_anchors = google_key_attestation_anchors()
    device = api.enroll()
    folder = SHARED / "data" / "android-key-attestation" / "chains" / "der"
    chain = [
        (folder / "algorithm_EC_SecurityLevel_TEE" / f"cert{i}.der").read_bytes() for i in range(4)
    ]
    issued = _challenge(api, device, "android_key")
    body = {
        "kind": "android_key",
        "challenge_id": issued["challenge_id"],
        "challenge": issued["challenge"],
        "chain": [_b64(c) for c in chain],
    }
    result = _submit(api, device, body)
    assert result["accepted"] is False
    assert result["code"] == "challenge_mismatch"
    assert _integrity(api, device)["state"] == "suspicious"


@pytest.mark.parametrize(
    ("chain", "code"),
    [
        (["AAAA"], "certificate_malformed"),
        ([_b64(b"\x30\x82\x01\x00" + b"\x00" * 40)], "certificate_malformed"),
    ],
)
def test_garbage_chains_get_a_reasoned_rejection(api: Api, chain: list[str], code: str) -> None:
    device = api.enroll()
    issued = _challenge(api, device, "android_key")
    body = {"kind": "android_key", "challenge_id": issued["challenge_id"]}
    body |= {"challenge": issued["challenge"], "chain": chain}
    result = _submit(api, device, body)
    assert (result["accepted"], result["code"]) == (False, code)
    assert result["reason"]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "android_key", "challenge_id": "x", "challenge": "AA", "chain": ["AA"]},
        {"kind": "android_key", "challenge_id": "00000000-0000-0000-0000-000000000000"},
        {
            "kind": "android_key",
            "challenge_id": "00000000-0000-0000-0000-000000000000",
            "challenge": "not base64!",
            "chain": ["AA"],
        },
        {
            "kind": "android_key",
            "challenge_id": "00000000-0000-0000-0000-000000000000",
            "challenge": "AA",
            "chain": ["AA"] * 11,
        },
        {"kind": "tpm", "challenge_id": "00000000-0000-0000-0000-000000000000", "challenge": "AA"},
    ],
)
def test_malformed_evidence_bodies_are_422(api: Api, body: dict[str, Any]) -> None:
    device = api.enroll()
    _submit(api, device, body, expect=422)


def test_unpadded_base64_that_does_not_decode_is_422(api: Api) -> None:
    device = api.enroll()
    body = {
        "kind": "android_key",
        "challenge_id": "00000000-0000-0000-0000-000000000000",
        "challenge": "A",
        "chain": ["AA"],
    }
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/integrity/evidence",
        json=body,
        headers=_auth(device),
    )
    error(r, 422, "bad_base64")


# --------------------------------------------------------------------------------------------
# Play Integrity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "state"),
    [
        (["MEETS_BASIC_INTEGRITY", "MEETS_DEVICE_INTEGRITY"], "clean"),
        ([], "compromised"),
    ],
)
def test_play_integrity_tokens_are_decrypted_verified_and_judged(
    api: Api, play: PlayIntegrityIssuer, labels: list[str], state: str
) -> None:
    device = api.enroll()
    issued = _challenge(api, device, "play_integrity")
    payload = verdict_payload(
        challenge=_unb64(issued["challenge"]),
        package_name=PACKAGE,
        certificate_sha256=CERT_SHA256,
        labels=labels,
        now=api.clock(),
    )
    body = {
        "kind": "play_integrity",
        "challenge_id": issued["challenge_id"],
        "challenge": issued["challenge"],
        "token": play.token(payload),
    }
    result = _submit(api, device, body)
    assert result["accepted"] is True, result
    assert result["integrity_state"] == state


def test_a_play_token_from_another_key_is_rejected(api: Api) -> None:
    device = api.enroll()
    issued = _challenge(api, device, "play_integrity")
    payload = verdict_payload(
        challenge=_unb64(issued["challenge"]),
        package_name=PACKAGE,
        certificate_sha256=CERT_SHA256,
        labels=["MEETS_DEVICE_INTEGRITY"],
        now=api.clock(),
    )
    forged = PlayIntegrityIssuer.generate().token(payload)
    body = {
        "kind": "play_integrity",
        "challenge_id": issued["challenge_id"],
        "challenge": issued["challenge"],
        "token": forged,
    }
    result = _submit(api, device, body)
    assert result["accepted"] is False
    assert result["reason"]


# --------------------------------------------------------------------------------------------
# App Attest
# --------------------------------------------------------------------------------------------


def test_app_attest_key_then_assertions_with_a_rising_counter(
    api: Api, apple_ca: AppAttestCA
) -> None:
    device = _ios(api)
    answer = api.checkin(device, integrity_signals=CLEAN_IOS)
    assert answer["attestation_requests"] == ["app_attest"]
    service = SoftwareAppAttest(apple_ca, APP_ID)
    key_id = service.generate_key()
    issued = _challenge(api, device, "app_attest")
    attestation = service.attest_key(key_id, _unb64(issued["challenge"]), now=api.clock())
    result = _submit(
        api,
        device,
        {
            "kind": "app_attest",
            "challenge_id": issued["challenge_id"],
            "challenge": issued["challenge"],
            "key_id": _b64(key_id),
            "attestation": _b64(attestation),
        },
    )
    assert result["accepted"] is True, result

    # Attesting the same key again is refused.
    issued = _challenge(api, device, "app_attest")
    again = _submit(
        api,
        device,
        {
            "kind": "app_attest",
            "challenge_id": issued["challenge_id"],
            "challenge": issued["challenge"],
            "key_id": _b64(key_id),
            "attestation": _b64(attestation),
        },
    )
    assert again["code"] == "key_already_attested"

    sent = []
    for _ in range(2):
        issued = _challenge(api, device, "app_attest_assertion")
        assertion, client_data = service.assert_request(key_id, _unb64(issued["challenge"]))
        body = {
            "kind": "app_attest_assertion",
            "challenge_id": issued["challenge_id"],
            "challenge": issued["challenge"],
            "key_id": _b64(key_id),
            "assertion": _b64(assertion),
            "client_data": _b64(client_data),
        }
        assert _submit(api, device, body)["accepted"] is True
        sent.append((assertion, client_data))

    # An old assertion (lower counter) re-sent with a fresh challenge: its client data still
    # names the old challenge, and even with the new one the counter would go backwards.
    issued = _challenge(api, device, "app_attest_assertion")
    old_assertion, _ = sent[0]
    client_data = json.dumps({"challenge": issued["challenge"]}).encode()
    body = {
        "kind": "app_attest_assertion",
        "challenge_id": issued["challenge_id"],
        "challenge": issued["challenge"],
        "key_id": _b64(key_id),
        "assertion": _b64(old_assertion),
        "client_data": _b64(client_data),
    }
    result = _submit(api, device, body)
    assert result["accepted"] is False
    assert result["code"] in {"bad_signature", "signature_invalid", "counter_not_increasing"}
    answer = api.checkin(device, integrity_signals=CLEAN_IOS)
    assert answer["attestation_requests"] == []


def test_an_attestation_from_a_foreign_ca_is_rejected(api: Api) -> None:
    device = _ios(api)
    stranger = SoftwareAppAttest(AppAttestCA.generate(), APP_ID)
    key_id = stranger.generate_key()
    issued = _challenge(api, device, "app_attest")
    attestation = stranger.attest_key(key_id, _unb64(issued["challenge"]), now=api.clock())
    result = _submit(
        api,
        device,
        {
            "kind": "app_attest",
            "challenge_id": issued["challenge_id"],
            "challenge": issued["challenge"],
            "key_id": _b64(key_id),
            "attestation": _b64(attestation),
        },
    )
    assert (result["accepted"], result["code"]) == (False, "chain_untrusted")
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/integrity/challenges",
        json={"kind": "app_attest_assertion"},
        headers=_auth(device),
    )
    error(r, 409, "no_attested_key")


def test_rules_are_listed_for_readers(api: Api) -> None:
    r = api.client.get("/api/integrity/rules", headers=api.headers("read-only"))
    assert r.status_code == 200
    rules = r.json()
    assert {"android", "ios"} == {x["platform"] for x in rules}
    assert all(x["explanation"] for x in rules)
    assert api.client.get("/api/integrity/rules").status_code == 401


def test_expired_challenges_are_removed_not_kept(api: Api) -> None:
    device = api.enroll()
    _challenge(api, device, "android_key")
    api.clock.advance(minutes=10)
    _challenge(api, device, "android_key")
    from openmtd.store.models import IntegrityChallenge

    with api.app.state.ctx.sessions() as db:
        assert db.query(IntegrityChallenge).count() == 1
