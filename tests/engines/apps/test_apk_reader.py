"""read_apk on real APKs (aapt + apksigner, see tests/apkbuild.py) and on hostile files."""

from __future__ import annotations

import hashlib
import io
import random
import re
import statistics
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apkbuild import (
    LAUNCHER,
    MAIN,
    Component,
    RawEntry,
    build_apk,
    debug_signer,
    default_signer,
    deflated_zeros,
    make_signer,
    minimal_dex,
    pad_bytes,
    print_certs,
    raw_zip,
)
from openmtd.domain.apps import Component as FactComponent
from openmtd.domain.apps import ComponentKind, ScanLimits
from openmtd.engines.apps.apk import ApkUnparseable, read_apk

P = "android.permission."


def certs_of(apk: Path, *, min_sdk: int | None = None) -> list[tuple[str, str, str]]:
    """(sha256, sha1, md5) of each signer, from `apksigner verify --print-certs`."""
    out = print_certs(apk, min_sdk=min_sdk)
    assert out.startswith("Verifies"), out
    found: dict[str, dict[str, str]] = {}
    for n, algo, digest in re.findall(r"Signer #(\d+) certificate (\S+) digest: (\w+)", out):
        found.setdefault(n, {})[algo] = digest
    return [(d["SHA-256"], d["SHA-1"], d["MD5"]) for _, d in sorted(found.items())]


def reason(data: bytes, limits: ScanLimits = ScanLimits()) -> str:
    with pytest.raises(ApkUnparseable) as info:
        parsed = read_apk(data, limits)
        list(parsed.scan_members())
    return info.value.reason


# --- every fact, against what the manifest says and what apksigner prints ----------------------


def test_every_fact_of_a_real_apk(tmp_path: Path) -> None:
    dex = minimal_dex(["Lcom/example/Spy;", "sendTextMessage"])
    libs = {"lib/arm64-v8a/libspy.so": b"\x7fELF" + bytes(300), "lib/x86/libspy.so": b"\x7fELF"}
    apk = build_apk(
        tmp_path,
        package="com.example.facts",
        permissions=[P + "RECEIVE_SMS", P + "INTERNET", P + "RECEIVE_SMS"],
        activities=[Component("com.other.Settings", exported=False, enabled=False)],
        activity_aliases=[(Component(".Alias", actions=(MAIN,)), ".MainActivity")],
        services=[
            Component(
                ".Overlay",
                exported=True,
                permission=P + "BIND_ACCESSIBILITY_SERVICE",
                actions=("android.accessibilityservice.AccessibilityService",),
            )
        ],
        receivers=[
            Component(
                "SmsReceiver",
                actions=("android.provider.Telephony.SMS_RECEIVED", "x.Y"),
                categories=("android.intent.category.DEFAULT",),
            )
        ],
        providers=[Component(".Files", exported=False)],
        label="Facts App",
        version_code=4242,
        version_name="4.2.42-beta",
        min_sdk=23,
        target_sdk=34,
        debuggable=True,
        allow_backup=False,
        cleartext=True,
        network_security_config=True,
        dex=dex,
        native_libs=libs,
        extra_files={"classes2.dex": minimal_dex(["two"]), "assets/readme.txt": b"hi"},
    )
    data = apk.read_bytes()
    facts = read_apk(data).facts
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.sha1 == hashlib.sha1(data).hexdigest()
    assert facts.md5 == hashlib.md5(data).hexdigest()
    assert facts.size == len(data)
    assert facts.package == "com.example.facts"
    assert (facts.version_code, facts.version_name) == (4242, "4.2.42-beta")
    assert (facts.min_sdk, facts.target_sdk) == (23, 34)
    assert facts.label == "Facts App"
    assert facts.permissions == (P + "RECEIVE_SMS", P + "INTERNET")
    assert facts.components == (
        FactComponent(
            ComponentKind.ACTIVITY,
            "com.example.facts.MainActivity",
            exported=True,
            actions=(MAIN,),
            categories=(LAUNCHER,),
        ),
        FactComponent(ComponentKind.ACTIVITY, "com.other.Settings", exported=False, enabled=False),
        FactComponent(
            ComponentKind.ACTIVITY_ALIAS, "com.example.facts.Alias", exported=None, actions=(MAIN,)
        ),
        FactComponent(
            ComponentKind.SERVICE,
            "com.example.facts.Overlay",
            exported=True,
            permission=P + "BIND_ACCESSIBILITY_SERVICE",
            actions=("android.accessibilityservice.AccessibilityService",),
        ),
        FactComponent(
            ComponentKind.RECEIVER,
            "com.example.facts.SmsReceiver",
            exported=None,
            actions=("android.provider.Telephony.SMS_RECEIVED", "x.Y"),
            categories=("android.intent.category.DEFAULT",),
        ),
        FactComponent(ComponentKind.PROVIDER, "com.example.facts.Files", exported=False),
    )
    assert facts.debuggable is True
    assert facts.allow_backup is False
    assert facts.uses_cleartext_traffic is True
    assert re.fullmatch(r"@0x7f[0-9a-f]{6}", facts.network_security_config)
    assert facts.has_launcher is True
    assert facts.signature_schemes == ("v1", "v2", "v3")
    signer = default_signer()
    (cert,) = facts.signers
    assert [(cert.sha256, cert.sha1, cert.md5)] == certs_of(apk)
    assert (cert.sha256, cert.sha1, cert.md5) == (signer.sha256, signer.sha1, signer.md5)
    assert cert.subject == cert.issuer == "CN=OpenMTD Test Signer,O=OpenMTD Tests,C=DE"
    assert (cert.not_before, cert.not_after) == (
        "2024-01-01T00:00:00+00:00",
        "2053-12-24T00:00:00+00:00",
    )
    assert cert.schemes == ("v1", "v2", "v3")
    assert cert.debug is False
    assert facts.dex_files == ("classes.dex", "classes2.dex")
    assert facts.native_libraries == ("lib/arm64-v8a/libspy.so", "lib/x86/libspy.so")
    with zipfile.ZipFile(apk) as z:
        assert facts.entry_count == len(z.infolist())
    members = dict(read_apk(data).scan_members())
    assert members == {"classes.dex": dex, "classes2.dex": minimal_dex(["two"]), **libs}


def test_defaults_and_absent_attributes(tmp_path: Path) -> None:
    apk = build_apk(
        tmp_path,
        package="org.openmtd.bare",
        launcher=False,
        version_code=None,
        version_name="",
        min_sdk=None,
        target_sdk=None,
    )
    facts = read_apk(apk.read_bytes()).facts
    assert facts.version_code is None and facts.version_name == ""
    assert facts.min_sdk is None and facts.target_sdk is None
    assert facts.allow_backup is None and facts.uses_cleartext_traffic is None
    assert facts.debuggable is False and facts.network_security_config == ""
    assert facts.has_launcher is False and facts.components == ()
    assert facts.dex_files == () and facts.native_libraries == ()


def test_launcher_must_be_enabled_and_in_one_filter(tmp_path: Path) -> None:
    disabled = Component(".Hidden", actions=(MAIN,), categories=(LAUNCHER,), enabled=False)
    apk = build_apk(tmp_path, package="org.openmtd.hidden", launcher=False, activities=[disabled])
    assert read_apk(apk.read_bytes()).facts.has_launcher is False
    service = Component(".S", actions=(MAIN,), categories=(LAUNCHER,))
    apk = build_apk(tmp_path, package="org.openmtd.svc", launcher=False, services=[service])
    assert read_apk(apk.read_bytes()).facts.has_launcher is False


# --- signing schemes and signers -------------------------------------------------------------


@pytest.mark.parametrize(
    "schemes", [("v1",), ("v2",), ("v3",), ("v2", "v3"), ("v1", "v2"), ("v1", "v2", "v3")]
)
def test_signature_schemes(tmp_path: Path, schemes: tuple[str, ...]) -> None:
    signer = make_signer("Scheme Tester")
    apk = build_apk(
        tmp_path, package="org.openmtd.schemes", signer=signer, schemes=schemes, target_sdk=29
    )
    facts = read_apk(apk.read_bytes()).facts
    assert facts.signature_schemes == schemes
    (cert,) = facts.signers
    assert cert.schemes == schemes
    assert [(cert.sha256, cert.sha1, cert.md5)] == certs_of(
        apk, min_sdk=None if "v1" in schemes else 24
    )


def test_two_signers(tmp_path: Path) -> None:
    alice, bob = make_signer("Alice"), make_signer("Bob")
    apk = build_apk(tmp_path, package="org.openmtd.two", signer=[alice, bob], schemes=("v1", "v2"))
    facts = read_apk(apk.read_bytes()).facts
    assert [(c.sha256, c.sha1, c.md5) for c in facts.signers] == certs_of(apk)
    assert [c.sha256 for c in facts.signers] == [alice.sha256, bob.sha256]
    assert all(c.schemes == ("v1", "v2") for c in facts.signers)


def test_different_signers_give_different_certificates(tmp_path: Path) -> None:
    one = build_apk(tmp_path, package="org.openmtd.same", signer=make_signer("One"))
    two = build_apk(tmp_path, package="org.openmtd.same", signer=make_signer("Two"))
    a, b = (read_apk(p.read_bytes()).facts for p in (one, two))
    assert a.package == b.package
    assert a.signers[0].sha256 != b.signers[0].sha256
    assert a.signers[0].subject == "CN=One,O=OpenMTD Tests,C=DE"


def test_debug_signer(tmp_path: Path) -> None:
    apk = build_apk(tmp_path, package="org.openmtd.debug", signer=debug_signer())
    (cert,) = read_apk(apk.read_bytes()).facts.signers
    assert cert.debug is True
    assert cert.subject == "CN=Android Debug,O=Android,C=US"


def test_unsigned(tmp_path: Path) -> None:
    apk = build_apk(tmp_path, package="org.openmtd.unsigned", signer=None)
    facts = read_apk(apk.read_bytes()).facts
    assert facts.signers == () and facts.signature_schemes == ()


def test_broken_v1_block_is_ignored_when_v2_signs(tmp_path: Path) -> None:
    junk = {"META-INF/JUNK.RSA": b"not pkcs7"}
    apk = build_apk(tmp_path, package="org.openmtd.junk", extra_files=junk, schemes=("v2",))
    facts = read_apk(apk.read_bytes()).facts
    assert facts.signature_schemes == ("v2",)
    apk = build_apk(tmp_path, package="org.openmtd.junk", extra_files=junk, signer=None)
    assert reason(apk.read_bytes()) == "META-INF/JUNK.RSA is not a PKCS#7 signature block"


# --- members for YARA ---------------------------------------------------------------------------


def test_scan_members_skips_members_over_the_yara_limit(tmp_path: Path) -> None:
    big = pad_bytes(300_000)
    apk = build_apk(
        tmp_path,
        package="org.openmtd.members",
        dex=minimal_dex(["small"]),
        native_libs={"lib/armeabi-v7a/libbig.so": big},
    )
    parsed = read_apk(apk.read_bytes(), ScanLimits(max_yara_bytes=100_000))
    assert [name for name, _ in parsed.scan_members()] == ["classes.dex"]
    parsed = read_apk(apk.read_bytes())
    assert dict(parsed.scan_members())["lib/armeabi-v7a/libbig.so"] == big


# --- hostile files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_apk(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = build_apk(
        tmp_path_factory.mktemp("apk"),
        package="org.openmtd.small",
        permissions=[P + "INTERNET"],
        dex=minimal_dex(["hello"]),
        schemes=("v1", "v2"),
    )
    return path.read_bytes()


def _flag_manifest_encrypted(data: bytes) -> bytes:
    out = bytearray(data)
    name = b"AndroidManifest.xml"
    cd = out.index(b"PK\x01\x02")
    while out[cd + 46 : cd + 46 + len(name)] != name:
        n, e, c = struct.unpack_from("<HHH", out, cd + 28)
        cd += 46 + n + e + c
    struct.pack_into("<H", out, cd + 8, struct.unpack_from("<H", out, cd + 8)[0] | 1)
    return bytes(out)


def test_encrypted_manifest(small_apk: bytes) -> None:
    assert reason(_flag_manifest_encrypted(small_apk)) == "entry AndroidManifest.xml is encrypted"


def test_truncated_at_several_offsets(small_apk: bytes) -> None:
    start = time.perf_counter()
    for cut in (0, 4, 22, 100, len(small_apk) // 2, len(small_apk) - 100, len(small_apk) - 1):
        with pytest.raises(ApkUnparseable):
            read_apk(small_apk[:cut])
    assert time.perf_counter() - start < 1.0


def test_not_an_apk() -> None:
    assert reason(b"") == "empty file"
    assert reason(b"MZ" + bytes(1000)) == "not a ZIP archive: no end-of-central-directory record"
    assert reason(raw_zip([RawEntry.stored("a.txt", b"x")])) == "no AndroidManifest.xml entry"


def test_manifest_zip_bomb_is_refused_quickly() -> None:
    stream, crc = deflated_zeros(1024)  # 1 GiB of zeros
    data = raw_zip([RawEntry("AndroidManifest.xml", stream, 1 << 30, crc, method=8)])
    start = time.perf_counter()
    assert reason(data) == "AndroidManifest.xml would inflate to more than 4 MiB"
    assert time.perf_counter() - start < 0.5


def test_dex_zip_bomb_is_never_inflated(small_apk: bytes) -> None:
    manifest = _member(small_apk, "AndroidManifest.xml")
    stream, crc = deflated_zeros(1024)
    bomb = RawEntry("classes.dex", stream, 1 << 30, crc, method=8)
    data = raw_zip([RawEntry.deflated("AndroidManifest.xml", manifest), bomb])
    start = time.perf_counter()
    parsed = read_apk(data)  # the facts never need the dex
    assert parsed.facts.dex_files == ("classes.dex",)
    assert list(parsed.scan_members()) == []  # over max_yara_bytes: skipped
    limits = ScanLimits(
        max_yara_bytes=2 << 30, max_entry_bytes=2 << 30, max_total_inflated_bytes=4 << 30
    )
    assert reason(data, limits) == (
        "entry classes.dex has a compression ratio over 200:1 (zip bomb?)"
    )
    lying = RawEntry("classes.dex", stream, 5000, crc, method=8)
    data = raw_zip([RawEntry.deflated("AndroidManifest.xml", manifest), lying])
    assert reason(data) == "entry classes.dex inflates beyond its declared 5000 bytes"
    assert time.perf_counter() - start < 1.0


def test_huge_manifest() -> None:
    data = raw_zip([RawEntry.stored("AndroidManifest.xml", pad_bytes(5 << 20))])
    assert reason(data) == "AndroidManifest.xml would inflate to more than 4 MiB"


def test_too_many_entries(small_apk: bytes) -> None:
    limits = ScanLimits(max_entries=3)
    count = read_apk(small_apk).facts.entry_count
    assert reason(small_apk, limits) == f"archive has {count} entries, more than 3"


def test_overlapping_entries(small_apk: bytes) -> None:
    manifest = _member(small_apk, "AndroidManifest.xml")
    data = bytearray(
        raw_zip([RawEntry.stored("AndroidManifest.xml", manifest), RawEntry.stored("x", b"x")])
    )
    cd = data.rindex(b"PK\x01\x02")  # the record of "x"
    struct.pack_into("<I", data, cd + 42, 0)
    assert reason(bytes(data)) == "entries AndroidManifest.xml and x overlap"


def test_corrupt_axml(small_apk: bytes) -> None:
    manifest = _member(small_apk, "AndroidManifest.xml")
    broken = manifest[:8] + random.Random(1).randbytes(len(manifest) - 8)
    data = raw_zip([RawEntry.stored("AndroidManifest.xml", broken)])
    assert reason(data).startswith("AndroidManifest.xml ")


def _member(apk: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(apk)) as z:
        return z.read(name)


@settings(deadline=None, max_examples=200)
@given(st.data())
def test_mutations_yield_facts_or_unparseable(small_apk: bytes, data: st.DataObject) -> None:
    apk = bytearray(small_apk)
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        if not apk:
            break
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        # half the time inside the (deflated) manifest at the start, else anywhere
        high = min(len(apk), 800) if data.draw(st.booleans()) else len(apk)
        pos = data.draw(st.integers(0, high - 1))
        if kind == "flip":
            apk[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del apk[pos:]
        elif kind == "insert":
            apk[pos:pos] = data.draw(st.binary(min_size=1, max_size=64))
        else:
            del apk[pos : pos + data.draw(st.integers(1, 64))]
    try:
        parsed = read_apk(bytes(apk))
        for _name, _content in parsed.scan_members():
            pass
    except ApkUnparseable as e:
        assert e.reason and "\n" not in e.reason


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=4096))
def test_random_bytes_are_unparseable(data: bytes) -> None:
    with pytest.raises(ApkUnparseable):
        read_apk(data)


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=512), st.sampled_from([0, 8]))
def test_random_manifest_in_a_valid_zip(content: bytes, method: int) -> None:
    entry = RawEntry.stored if method == 0 else RawEntry.deflated
    with pytest.raises(ApkUnparseable):
        read_apk(raw_zip([entry("AndroidManifest.xml", content)]))


# --- speed and memory ------------------------------------------------------------------------


def _dex_of_size(target: int) -> bytes:
    rng = random.Random(5)
    words = [f"Lcom/example/c{rng.getrandbits(48):x}/M{i};" for i in range(target // 36)]
    return minimal_dex(words)


def test_twenty_megabyte_apk_is_fast_and_lean(tmp_path: Path) -> None:
    dex = _dex_of_size(8 << 20)
    apk = build_apk(tmp_path, package="org.openmtd.big", dex=dex, pad_to=20_000_000)
    data = apk.read_bytes()
    assert 19_000_000 < len(data) < 21_000_000
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        read_apk(data)
        runs.append(time.perf_counter() - start)
    assert statistics.median(runs) < 0.5
    tracemalloc.start()
    try:
        parsed = read_apk(data)
        sizes = [len(content) for _, content in parsed.scan_members()]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sizes == [len(dex)]
    assert peak + len(data) <= 3 * len(data)


def test_signers_are_identified_not_verified(tmp_path: Path) -> None:
    """A tampered APK still reads, with the signer it claims (documented behaviour)."""
    apk = build_apk(tmp_path, package="org.openmtd.tamper", schemes=("v2",), pad_to=40_000)
    data = bytearray(apk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored assets/pad.bin
    apk.write_bytes(data)
    assert "DOES NOT VERIFY" in print_certs(apk, min_sdk=24)
    facts = read_apk(bytes(data)).facts
    assert facts.signers[0].sha256 == default_signer().sha256
