"""The iOS parsers on the hand-written fixtures, and on hostile input (hypothesis)."""

from __future__ import annotations

import hashlib
import plistlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.agent.collectors import ios_parse as parse
from openmtd.agent.collectors.ios_parse import Distribution
from openmtd.domain.device import IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform
from openmtd.engines.integrity.signals import evaluate_signals

FIXTURES = Path(__file__).parent / "fixtures" / "ios"
CLEAN, JAILBROKEN = FIXTURES / "iphone14pro-ios17", FIXTURES / "iphone12-ios16-jailbroken"


def load(folder: Path, name: str) -> Any:
    with (folder / name).open("rb") as f:
        return plistlib.load(f)


def make_cert(*, ca: bool = True, self_signed: bool = True) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])
    issuer = (
        subject
        if self_signed
        else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone Else")])
    )
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


# --- lockdown values ----------------------------------------------------------------------


def test_facts_of_an_iphone_14_pro() -> None:
    values = load(CLEAN, "lockdown_values.plist")
    facts = parse.device_facts(values, scenario=EnrollmentScenario.IOS_SUPERVISED)
    assert (facts.platform, facts.scenario) == (Platform.IOS, EnrollmentScenario.IOS_SUPERVISED)
    assert (facts.os_version, facts.model, facts.manufacturer, facts.build) == (
        "17.5.1",
        "iPhone 14 Pro",
        "Apple",
        "21F90",
    )
    assert facts.security_patch_level is None
    assert parse.device_name(values) == "Anna's iPhone"
    assert parse.integrity_signals(values) == [IntegritySignal("developer_mode", "false")]


def test_hardware_id_is_a_hash_of_the_udid() -> None:
    values = load(CLEAN, "lockdown_values.plist")
    hw = parse.hardware_id(values)
    assert hw == hashlib.sha256(b"openmtd-ios:00008120-001A2B3C4D5E6F01").hexdigest()[:32]
    assert len(hw) == 32 and values["SerialNumber"] not in hw
    assert parse.hardware_id({"SerialNumber": "X1"}) != parse.hardware_id({"SerialNumber": "X2"})
    assert parse.hardware_id({}, "00008101-000C3D5E7F901234") == parse.hardware_id(
        {"UniqueDeviceID": "00008101-000C3D5E7F901234"}
    )


@pytest.mark.parametrize(
    ("values", "model", "os_version", "name"),
    [
        ({"ProductType": "iPhone17,5", "ProductVersion": "18.3"}, "iPhone 16e", "18.3",
         "iPhone 16e"),
        ({"ProductType": "iPad16,5"}, "iPad Pro 13-inch (M4)", "unknown", "iPad Pro 13-inch (M4)"),
        ({"ProductType": "iPhone99,9"}, "iPhone99,9", "unknown", "iPhone99,9"),
        ({"DeviceClass": "iPad"}, "iPad", "unknown", "iOS device"),
        ({"ProductVersion": "16.5.1", "ProductVersionExtra": "(c)"}, "unknown", "16.5.1 (c)",
         "iOS device"),
        ({"ProductType": 42, "ProductVersion": ["17"], "DeviceName": b"x"}, "unknown", "unknown",
         "iOS device"),
    ],
)  # fmt: skip
def test_models_and_odd_values(
    values: dict[str, Any], model: str, os_version: str, name: str
) -> None:
    facts = parse.device_facts(values, scenario=EnrollmentScenario.IOS_DEVICE_ENROLLMENT)
    assert (facts.model, facts.os_version) == (model, os_version)
    assert parse.device_name(values) == name


def test_developer_mode_only_when_reported() -> None:
    assert parse.integrity_signals({}) == []
    assert parse.integrity_signals({"DeveloperModeStatus": "yes"}) == []
    jailbroken = load(JAILBROKEN, "lockdown_values.plist")
    assert parse.integrity_signals(jailbroken) == [IntegritySignal("developer_mode", "true")]


# --- apps ---------------------------------------------------------------------------------


def test_inventory_of_the_clean_phone() -> None:
    inventory = parse.app_inventory(load(CLEAN, "installation_proxy_browse.plist"))
    assert (inventory.skipped, inventory.truncated) == (0, 0)
    by_id = {a.info.identifier: a for a in inventory.apps}
    assert len(by_id) == 16
    assert list(by_id) == sorted(by_id)
    expected = {
        "net.whatsapp.WhatsApp": Distribution.APP_STORE,
        "com.apple.TestFlight": Distribution.APP_STORE,
        "com.contoso.expenses.beta": Distribution.TESTFLIGHT,
        "com.example.retroarcade": Distribution.MARKETPLACE,
        "com.contoso.fieldservice": Distribution.IN_HOUSE,
        "com.example.debugtool": Distribution.DEVELOPMENT,
        "com.apple.mobilesafari": Distribution.SYSTEM,
        "com.apple.AppStore": Distribution.SYSTEM,
    }
    assert {k: by_id[k].distribution for k in expected} == expected
    sources: dict[InstallSource, int] = {}
    for app in inventory.infos:
        sources[app.install_source] = sources.get(app.install_source, 0) + 1
    assert sources == {InstallSource.STORE: 9, InstallSource.SIDELOADED: 2, InstallSource.SYSTEM: 5}
    whatsapp = by_id["net.whatsapp.WhatsApp"].info
    assert (whatsapp.name, whatsapp.version) == ("WhatsApp", "24.10.74")
    assert whatsapp.sha256 is None and whatsapp.signer_sha256 is None
    field = by_id["com.contoso.fieldservice"]
    assert field.signer_identity == "iPhone Distribution: Contoso Ltd"
    assert field.info.install_source is InstallSource.SIDELOADED


def test_the_buyers_apple_id_is_never_read() -> None:
    inventory = parse.app_inventory(load(CLEAN, "installation_proxy_browse.plist"))
    assert "anna.rossi@example.com" not in repr(inventory)


def test_jailbreak_apps_are_sideloaded_and_the_engine_sees_them() -> None:
    inventory = parse.app_inventory(load(JAILBROKEN, "installation_proxy_browse.plist"))
    by_id = {a.info.identifier: a for a in inventory.apps}
    for bundle in ("org.coolstar.SileoStore", "com.tigisoftware.Filza", "com.opa334.TrollStore"):
        assert by_id[bundle].distribution is Distribution.REGISTERED_AS_SYSTEM
        assert by_id[bundle].info.install_source is InstallSource.SIDELOADED
    assert by_id["com.apple.Preferences"].info.install_source is InstallSource.SYSTEM
    findings = evaluate_signals(Platform.IOS, (), inventory.infos)
    assert {f.rule_id for f in findings} >= {"ios.jailbreak_store", "ios.jailbreak_app"}


def test_managed_apps_named_by_the_caller() -> None:
    entries = load(CLEAN, "installation_proxy_browse.plist")
    inventory = parse.app_inventory(
        entries, managed={"com.microsoft.Office.Outlook", "com.apple.mobilesafari"}
    )
    by_id = {a.info.identifier: a.info for a in inventory.apps}
    assert by_id["com.microsoft.Office.Outlook"].install_source is InstallSource.MANAGED
    assert by_id["com.apple.mobilesafari"].install_source is InstallSource.SYSTEM


def test_get_apps_dict_and_bad_entries() -> None:
    good = {
        "CFBundleIdentifier": "com.example.a",
        "CFBundleVersion": "7",
        "ApplicationType": "User",
    }
    answer = {
        "com.example.a": good,
        "dup": dict(good),
        "bad id": {"CFBundleIdentifier": "not a bundle id"},
        "none": {"CFBundleName": "no id"},
        "long": {"CFBundleIdentifier": "a" * 300},
        "notadict": "x",
    }
    inventory = parse.app_inventory(answer)
    assert [a.info.identifier for a in inventory.apps] == ["com.example.a"]
    assert inventory.apps[0].info.version == "7"
    assert inventory.apps[0].distribution is Distribution.UNKNOWN
    assert inventory.skipped == 5
    assert parse.app_inventory("garbage").apps == ()


def test_apps_are_capped() -> None:
    entries = [{"CFBundleIdentifier": f"com.example.a{i}"} for i in range(parse.MAX_APPS + 3)]
    inventory = parse.app_inventory(entries)
    assert (len(inventory.apps), inventory.truncated) == (parse.MAX_APPS, 3)


@pytest.mark.parametrize(
    ("entry", "distribution"),
    [
        ({"ApplicationType": "Hidden", "CFBundleIdentifier": "com.apple.x"}, Distribution.SYSTEM),
        ({"SignerIdentity": "Apple iPhone OS Application Signing"}, Distribution.APP_STORE),
        ({"iTunesMetadata": b"not a plist"}, Distribution.APP_STORE),
        ({"iTunesMetadata": b"x" * (parse.MAX_METADATA_BYTES + 1)}, Distribution.APP_STORE),
        ({"SignerIdentity": "iPhone Developer: A (B)"}, Distribution.DEVELOPMENT),
        ({"Entitlements": {"get-task-allow": True}}, Distribution.DEVELOPMENT),
        ({"SignerIdentity": "Apple Distribution: Contoso"}, Distribution.IN_HOUSE),
        ({"ProfileValidated": True}, Distribution.IN_HOUSE),
        ({"ProfileValidated": "yes", "Entitlements": ["x"]}, Distribution.UNKNOWN),
    ],
)  # fmt: skip
def test_classification_rules(entry: dict[str, Any], distribution: Distribution) -> None:
    assert parse.classify_app({"CFBundleIdentifier": "com.example.x", **entry}) is distribution


# --- profiles and certificates --------------------------------------------------------------


def test_profiles_of_the_clean_phone() -> None:
    listing = parse.parse_profiles(load(CLEAN, "profile_list.plist"))
    assert [p.identifier for p in listing.profiles] == [
        "com.contoso.mdm.enrollment",
        "com.contoso.swg.trust",
        "com.contoso.wifi.corp",
    ]
    mdm, trust, wifi = listing.profiles
    assert mdm.mdm and mdm.removal_disallowed and mdm.active
    assert mdm.payload_types == ("com.apple.mdm", "com.apple.security.scep")
    assert (mdm.organization, mdm.version) == ("Contoso Ltd", 1)
    assert not trust.mdm and wifi.encrypted and wifi.payload_types == ()
    (root,) = listing.root_certificates
    der = (FIXTURES / "root_ca.der").read_bytes()
    assert root.sha256 == hashlib.sha256(der).hexdigest()
    assert root.sha1 == hashlib.sha1(der).hexdigest()
    assert root.subject == root.issuer
    assert "CN=Contoso TLS Inspection Root CA" in root.subject
    assert root.not_after == datetime(2034, 1, 12, tzinfo=UTC)
    assert root.self_signed and root.certificate_authority and root.parsed
    assert (root.profile_identifier, root.payload_type) == (
        "com.contoso.swg.trust",
        "com.apple.security.root",
    )


def test_empty_profile_list() -> None:
    assert parse.parse_profiles(load(JAILBROKEN, "profile_list.plist")).profiles == ()
    assert parse.parse_profiles(None).profiles == ()


def test_certificate_payloads_of_every_kind() -> None:
    root, leaf = make_cert(), make_cert(ca=False, self_signed=False)
    pem = x509.load_der_x509_certificate(root).public_bytes(serialization.Encoding.PEM)
    answer = {
        "ProfileMetadata": {
            "p": {
                "PayloadContent": [
                    {"PayloadType": "com.apple.security.pem", "PayloadContent": pem},
                    {"PayloadType": "com.apple.security.pkcs1", "PayloadContent": leaf},
                    {
                        "PayloadType": "com.apple.security.root",
                        "PayloadContent": b"\x30\x03garbage",
                    },
                    {"PayloadType": "com.apple.security.root", "PayloadContent": b"\0" * 70000},
                    {"PayloadType": "com.apple.security.root", "PayloadContent": 12},
                    {"PayloadType": "com.apple.security.root", "PayloadContent": b""},
                    {"PayloadType": "com.apple.security.pem", "PayloadContent": pem.decode()},
                    {"PayloadContent": root},
                    "not a dict",
                ]
            }
        }
    }
    (profile,) = parse.parse_profiles(answer).profiles
    certs = profile.certificates
    assert len(certs) == 7
    assert certs[0].parsed and certs[0].is_root  # a self-signed CA, whatever its payload type
    assert certs[1].parsed and not certs[1].is_root
    assert certs[2].problem.startswith("unparseable certificate")
    assert certs[3].problem == "certificate data of 70000 bytes exceeds 65536"
    assert certs[4].problem == "no certificate data (int)"
    assert certs[5].problem == "empty certificate data"
    assert certs[6].parsed and certs[6].sha256 == certs[0].sha256
    roots = parse.parse_profiles(answer).root_certificates
    assert len(roots) == 6  # the two parsed self-signed CAs and the four unreadable roots


def test_profile_list_order_and_odd_shapes() -> None:
    answer = {
        "OrderedIdentifiers": ["b", "b", 3, "ghost"],
        "ProfileManifest": {"b": {"IsActive": False, "Description": "B"}},
        "ProfileMetadata": {"a": {"PayloadVersion": True}, "b": "not a dict", 5: {}},
    }
    listing = parse.parse_profiles(answer)
    assert [p.identifier for p in listing.profiles] == ["b", "a"]
    b, a = listing.profiles
    assert (b.active, b.description) == (False, "B")
    assert a.version is None and a.active is None
    assert listing.skipped == 2  # the non-string key and the ghost


# --- hostile input --------------------------------------------------------------------------

_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=40), st.binary(max_size=64),
    st.sampled_from(["User", "System", "com.apple.security.root", "com.apple.mdm",
                     "Apple iPhone OS Application Signing", "com.apple.x"]),
)  # fmt: skip
_keys = st.sampled_from(
    [
        "CFBundleIdentifier", "ApplicationType", "SignerIdentity", "iTunesMetadata",
        "Entitlements", "ProfileValidated", "PayloadContent", "PayloadType", "ProductType",
        "ProductVersion", "UniqueDeviceID", "DeveloperModeStatus", "OrderedIdentifiers",
        "ProfileMetadata", "ProfileManifest", "IsActive", "x",
    ]
)  # fmt: skip
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_keys, st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(_values)
def test_parsers_never_raise(data: Any) -> None:
    parse.app_inventory(data)
    parse.parse_profiles(data)
    if isinstance(data, dict):
        parse.device_facts(data, scenario=EnrollmentScenario.IOS_DEVICE_ENROLLMENT)
        parse.device_name(data)
        parse.hardware_id(data)
        parse.integrity_signals(data)
        parse.classify_app(data)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600))
def test_certificate_bytes_never_raise(data: bytes) -> None:
    cert = parse.parse_certificate(data)
    assert cert.parsed or cert.problem
