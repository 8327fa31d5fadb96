"""Build real, signed APKs for tests: Debian's aapt packages a manifest, apksigner signs it.

    from apkbuild import build_apk, Component, Signer, make_signer, minimal_dex

    apk = build_apk(tmp_path, package="com.example.app", permissions=["android.permission.SMS"],
                    services=[Component(".Spy", exported=True, actions=("a.b.C",))],
                    dex=minimal_dex(["hello"]), signer=make_signer("Alice"), schemes=("v2",))

Everything is cached per session (keys, certificates and built APKs keyed by the arguments), so a
suite that uses many APKs stays fast. When aapt, apksigner or framework-res.apk is missing, the
calling test skips with the install command (fails under OPENMTD_REQUIRE_ALL=1).
"""

from __future__ import annotations

import hashlib
import random
import struct
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import missing

AAPT = Path("/usr/bin/aapt")
APKSIGNER = Path("/usr/bin/apksigner")
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
INSTALL = "install them with: apt-get install aapt apksigner android-framework-res"

ANDROID_NS = "http://schemas.android.com/apk/res/android"
MAIN = "android.intent.action.MAIN"
LAUNCHER = "android.intent.category.LAUNCHER"
ALL_SCHEMES = ("v1", "v2", "v3")


def require_apk_tools() -> None:
    """Skip (or fail under OPENMTD_REQUIRE_ALL=1) unless aapt, apksigner and framework-res exist."""
    absent = [str(p) for p in (AAPT, APKSIGNER, FRAMEWORK_RES) if not p.exists()]
    if absent:
        missing(", ".join(absent), INSTALL)


# --- signers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """An RSA-2048 key (PKCS#8 DER) and its self-signed certificate."""

    name: str
    key_pk8: bytes
    cert_pem: bytes
    cert_der: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.cert_der).hexdigest()

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.cert_der).hexdigest()

    @property
    def md5(self) -> str:
        return hashlib.md5(self.cert_der).hexdigest()

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.cert_der)


_SIGNERS: dict[tuple[str, str, str], Signer] = {}


def make_signer(cn: str, *, organization: str = "OpenMTD Tests", country: str = "DE") -> Signer:
    """A self-signed signer with subject CN=cn,O=organization,C=country (cached per session)."""
    cache_key = (cn, organization, country)
    if cache_key in _SIGNERS:
        return _SIGNERS[cache_key]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Encoded C, O, CN (as keytool does), so RFC 4514 reads "CN=…,O=…,C=…".
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(cn.encode()).digest()[:8], "big"))
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 30))
        .sign(key, hashes.SHA256())
    )
    signer = Signer(
        name=cn,
        key_pk8=key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )
    _SIGNERS[cache_key] = signer
    return signer


def debug_signer() -> Signer:
    """A signer whose subject is the Android SDK debug certificate's."""
    return make_signer("Android Debug", organization="Android", country="US")


def default_signer() -> Signer:
    return make_signer("OpenMTD Test Signer")


# --- manifest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One component for build_apk; `name` may start with "." (relative to the package)."""

    name: str
    exported: bool | None = None
    permission: str = ""
    actions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    enabled: bool | None = None  # None: attribute not written (Android default: enabled)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _component_xml(tag: str, c: Component, extra: str = "") -> str:
    attrs = f"android:name={quoteattr(c.name)}{extra}"
    if c.exported is not None:
        attrs += f' android:exported="{_bool(c.exported)}"'
    if c.permission:
        attrs += f" android:permission={quoteattr(c.permission)}"
    if c.enabled is not None:
        attrs += f' android:enabled="{_bool(c.enabled)}"'
    if not (c.actions or c.categories):
        return f"    <{tag} {attrs}/>\n"
    body = "".join(f"        <action android:name={quoteattr(a)}/>\n" for a in c.actions)
    body += "".join(f"        <category android:name={quoteattr(k)}/>\n" for k in c.categories)
    return (
        f"    <{tag} {attrs}>\n      <intent-filter>\n{body}      </intent-filter>\n    </{tag}>\n"
    )


def manifest_xml(
    *,
    package: str,
    permissions: Sequence[str] = (),
    activities: Sequence[Component] = (),
    activity_aliases: Sequence[tuple[Component, str]] = (),
    services: Sequence[Component] = (),
    receivers: Sequence[Component] = (),
    providers: Sequence[Component] = (),
    label: str = "Test",
    version_code: int | None = 1,
    version_name: str = "1.0",
    min_sdk: int | None = 21,
    target_sdk: int | None = 33,
    debuggable: bool = False,
    allow_backup: bool | None = None,
    cleartext: bool | None = None,
    network_security_config: bool = False,
) -> str:
    """The AndroidManifest.xml text build_apk packages (exposed so tests can vary it)."""
    head = f"package={quoteattr(package)}"
    if version_code is not None:
        head += f' android:versionCode="{version_code}"'
    if version_name:
        head += f" android:versionName={quoteattr(version_name)}"
    sdk = ""
    if min_sdk is not None:
        sdk += f' android:minSdkVersion="{min_sdk}"'
    if target_sdk is not None:
        sdk += f' android:targetSdkVersion="{target_sdk}"'
    app = f"android:label={quoteattr(label)}"
    if debuggable:
        app += ' android:debuggable="true"'
    if allow_backup is not None:
        app += f' android:allowBackup="{_bool(allow_backup)}"'
    if cleartext is not None:
        app += f' android:usesCleartextTraffic="{_bool(cleartext)}"'
    if network_security_config:
        app += ' android:networkSecurityConfig="@xml/network_security_config"'
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f'<manifest xmlns:android="{ANDROID_NS}" {head}>\n',
        f"  <uses-sdk{sdk}/>\n" if sdk else "",
        *(f"  <uses-permission android:name={quoteattr(p)}/>\n" for p in permissions),
        f"  <application {app}>\n",
        *(_component_xml("activity", c) for c in activities),
        *(
            _component_xml("activity-alias", c, f" android:targetActivity={quoteattr(t)}")
            for c, t in activity_aliases
        ),
        *(_component_xml("service", c) for c in services),
        *(_component_xml("receiver", c) for c in receivers),
        *(
            _component_xml("provider", c, f" android:authorities={quoteattr(package + '.p')}")
            for c in providers
        ),
        "  </application>\n</manifest>\n",
    ]
    return "".join(parts)


NSC_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<network-security-config>\n'
    '  <base-config cleartextTrafficPermitted="true"/>\n</network-security-config>\n'
)


# --- payloads ---------------------------------------------------------------------------------


def _uleb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def minimal_dex(strings: Sequence[str]) -> bytes:
    """A structurally valid DEX 035 file (header, string_ids, string data, map_list) holding
    `strings` (sorted, de-duplicated; ASCII/BMP text), with its checksum and signature."""
    items = sorted(set(strings), key=lambda s: s.encode("utf-16-be"))
    header_size = 0x70
    ids_off = header_size
    data_off = ids_off + 4 * len(items)
    data = bytearray()
    offsets = []
    for s in items:
        offsets.append(data_off + len(data))
        data += _uleb128(len(s.encode("utf-16-le")) // 2) + s.encode("utf-8") + b"\0"
    while (data_off + len(data)) % 4:
        data.append(0)
    map_off = data_off + len(data)
    entries = [(0x0000, 1, 0), (0x1000, 1, map_off)]
    if items:
        entries[1:1] = [(0x0001, len(items), ids_off), (0x2002, len(items), data_off)]
    data += struct.pack("<I", len(entries))
    for kind, size, off in entries:
        data += struct.pack("<HHII", kind, 0, size, off)
    file_size = data_off + len(data)
    header = bytearray(header_size)
    header[0:8] = b"dex\n035\0"
    struct.pack_into(
        "<IIIIIIIIIIIIIIIIIIII",
        header,
        32,
        file_size,
        header_size,
        0x12345678,
        0,
        0,
        map_off,
        len(items),
        ids_off if items else 0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        file_size - data_off,
        data_off,
    )
    body = header + b"".join(struct.pack("<I", o) for o in offsets) + data
    body[12:32] = hashlib.sha1(bytes(body[32:])).digest()
    body[8:12] = struct.pack("<I", zlib.adler32(bytes(body[12:])))
    return bytes(body)


def pad_bytes(n: int, seed: int = 42) -> bytes:
    """`n` deterministic, incompressible bytes."""
    return random.Random(seed).randbytes(n)


# --- building ---------------------------------------------------------------------------------

_BUILT: dict[str, bytes] = {}


def _run(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {result.stdout}{result.stderr}")


def _sign(unsigned: Path, out: Path, signers: Sequence[Signer], schemes: Sequence[str]) -> None:
    work = unsigned.parent
    argv = [str(APKSIGNER), "sign"]
    for i, s in enumerate(signers):
        key, cert = work / f"key{i}.pk8", work / f"cert{i}.pem"
        key.write_bytes(s.key_pk8)
        cert.write_bytes(s.cert_pem)
        if i:
            argv.append("--next-signer")
        argv += ["--key", str(key), "--cert", str(cert)]
    for scheme in ALL_SCHEMES:
        argv += [f"--{scheme}-signing-enabled", _bool(scheme in schemes)]
    argv += ["--in", str(unsigned), "--out", str(out)]
    _run(argv, work)


def build_apk(
    tmp_dir: Path,
    *,
    package: str,
    permissions: Sequence[str] = (),
    activities: Sequence[Component] = (),
    activity_aliases: Sequence[tuple[Component, str]] = (),
    services: Sequence[Component] = (),
    receivers: Sequence[Component] = (),
    providers: Sequence[Component] = (),
    launcher: bool = True,
    label: str = "Test",
    version_code: int | None = 1,
    version_name: str = "1.0",
    min_sdk: int | None = 21,
    target_sdk: int | None = 33,
    debuggable: bool = False,
    allow_backup: bool | None = None,
    cleartext: bool | None = None,
    network_security_config: bool = False,
    dex: bytes | None = None,
    native_libs: Mapping[str, bytes] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    pad_to: int | None = None,
    signer: Signer | Sequence[Signer] | None | str = "default",
    schemes: Sequence[str] = ALL_SCHEMES,
    manifest: str | None = None,
) -> Path:
    """Package, extend and sign an APK; return its path in `tmp_dir`.

    launcher=True adds ".MainActivity" (exported, MAIN + LAUNCHER) before `activities`.
    `dex` becomes classes.dex (deflated); `native_libs` and `extra_files` are added as named
    (deflated); `pad_to` adds a stored, incompressible assets/pad.bin so the APK reaches about
    that many bytes. signer=None or schemes=() leaves the APK unsigned. `manifest` replaces the
    generated AndroidManifest.xml text entirely.
    """
    require_apk_tools()
    signers: tuple[Signer, ...]
    if signer == "default":
        signers = (default_signer(),)
    elif signer is None:
        signers = ()
    elif isinstance(signer, Signer):
        signers = (signer,)
    else:
        assert not isinstance(signer, str)
        signers = tuple(signer)
    if not schemes:
        signers = ()
    if len(signers) > 1 and "v3" in schemes:
        raise ValueError("apksigner cannot sign v3 with several signers (no lineage); drop v3")
    if launcher:
        main = Component(".MainActivity", exported=True, actions=(MAIN,), categories=(LAUNCHER,))
        activities = (main, *activities)
    if manifest is None:
        manifest = manifest_xml(
            package=package,
            permissions=permissions,
            activities=activities,
            activity_aliases=activity_aliases,
            services=services,
            receivers=receivers,
            providers=providers,
            label=label,
            version_code=version_code,
            version_name=version_name,
            min_sdk=min_sdk,
            target_sdk=target_sdk,
            debuggable=debuggable,
            allow_backup=allow_backup,
            cleartext=cleartext,
            network_security_config=network_security_config,
        )
    files: dict[str, bytes] = {}
    if dex is not None:
        files["classes.dex"] = dex
    files.update(native_libs or {})
    files.update(extra_files or {})
    key = hashlib.sha256(
        repr(
            (
                manifest,
                network_security_config,
                sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items()),
                pad_to,
                [s.cert_der for s in signers],
                tuple(schemes),
            )
        ).encode()
    ).hexdigest()[:16]
    out = Path(tmp_dir) / f"{package}-{key}.apk"
    if key not in _BUILT:
        _BUILT[key] = _build(manifest, network_security_config, files, pad_to, signers, schemes)
    out.write_bytes(_BUILT[key])
    return out


def _build(
    manifest: str,
    network_security_config: bool,
    files: Mapping[str, bytes],
    pad_to: int | None,
    signers: Sequence[Signer],
    schemes: Sequence[str],
) -> bytes:
    with tempfile.TemporaryDirectory(prefix="apkbuild-") as tmp:
        work = Path(tmp)
        (work / "AndroidManifest.xml").write_text(manifest, encoding="utf-8")
        argv = [str(AAPT), "package", "-f", "-M", "AndroidManifest.xml"]
        argv += ["-I", str(FRAMEWORK_RES), "-F", "unsigned.apk"]
        if network_security_config:
            (work / "res" / "xml").mkdir(parents=True)
            (work / "res" / "xml" / "network_security_config.xml").write_text(NSC_XML)
            argv += ["-S", "res"]
        _run(argv, work)
        unsigned = work / "unsigned.apk"
        with zipfile.ZipFile(unsigned, "a") as z:
            for name, content in files.items():
                z.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
        if pad_to is not None:
            room = pad_to - unsigned.stat().st_size - 2 * 4096 * max(1, len(signers)) - 200
            if room > 0:
                with zipfile.ZipFile(unsigned, "a") as z:
                    z.writestr("assets/pad.bin", pad_bytes(room), compress_type=zipfile.ZIP_STORED)
        if not signers:
            return unsigned.read_bytes()
        signed = work / "signed.apk"
        _sign(unsigned, signed, signers, schemes)
        return signed.read_bytes()


def print_certs(apk: Path, *, min_sdk: int | None = None) -> str:
    """`apksigner verify --print-certs -v` output for `apk` (to compare thumbprints).

    Pass min_sdk=24 to verify a v2/v3-only APK whose manifest says minSdk < 24; a v1-only APK
    verifies only with targetSdk < 30."""
    argv = [str(APKSIGNER), "verify", "--print-certs", "-v"]
    if min_sdk is not None:
        argv += ["--min-sdk-version", str(min_sdk)]
    result = subprocess.run(
        [*argv, str(apk)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.stdout + result.stderr


# --- hand-made archives (for hostile inputs) ------------------------------------------------


@dataclass(frozen=True)
class RawEntry:
    """One entry written verbatim by raw_zip: `payload` is the already-compressed data, and
    the sizes, CRC and flags are whatever the test wants the headers to claim."""

    name: str
    payload: bytes
    size: int
    crc32: int
    method: int = 0
    flags: int = 0

    @classmethod
    def stored(cls, name: str, content: bytes) -> RawEntry:
        return cls(name, content, len(content), zlib.crc32(content))

    @classmethod
    def deflated(cls, name: str, content: bytes) -> RawEntry:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = c.compress(content) + c.flush()
        return cls(name, payload, len(content), zlib.crc32(content), method=8)


def raw_zip(entries: Sequence[RawEntry], *, comment: bytes = b"") -> bytes:
    """A ZIP archive whose headers say exactly what `entries` claim."""
    out = bytearray()
    central = bytearray()
    for e in entries:
        name = e.name.encode()
        offset = len(out)
        out += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, e.flags, e.method, 0, 0x21, e.crc32,
            len(e.payload), e.size, len(name), 0,
        )  # fmt: skip
        out += name + e.payload
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, e.flags, e.method, 0, 0x21, e.crc32,
            len(e.payload), e.size, len(name), 0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += name
    cd_offset = len(out)
    out += central
    out += struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), cd_offset,
        len(comment),
    )  # fmt: skip
    return bytes(out + comment)


_ZEROS: dict[int, tuple[bytes, int]] = {}


def deflated_zeros(mib: int) -> tuple[bytes, int]:
    """(raw deflate stream of `mib` MiB of zeros, its CRC-32), built in milliseconds: one
    full-flushed 1 MiB block repeated (a full flush resets the window, so blocks concatenate)."""
    if mib not in _ZEROS:
        chunk = bytes(1 << 20)
        block = zlib.compressobj(9, zlib.DEFLATED, -15)
        one = block.compress(chunk) + block.flush(zlib.Z_FULL_FLUSH)
        end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
        crc = 0
        for _ in range(mib):
            crc = zlib.crc32(chunk, crc)
        _ZEROS[mib] = (one * mib + end, crc)
    return _ZEROS[mib]


# --- ready-made APKs shared by server, agent and console tests ------------------------------

P = "android.permission."
TROJAN_PERMISSIONS = (
    P + "SYSTEM_ALERT_WINDOW",
    P + "RECEIVE_SMS",
    P + "READ_SMS",
    P + "SEND_SMS",
    P + "RECEIVE_BOOT_COMPLETED",
    P + "REQUEST_INSTALL_PACKAGES",
    P + "INTERNET",
)


def trojan_like_apk(folder: Path) -> Path:
    """A banking-trojan-like APK: accessibility + overlay + SMS, device admin, no launcher."""
    return build_apk(
        folder,
        package="com.flashlight.bright",
        label="Bright Flashlight",
        permissions=TROJAN_PERMISSIONS,
        launcher=False,
        services=[
            Component(
                ".Helper",
                exported=True,
                permission=P + "BIND_ACCESSIBILITY_SERVICE",
                actions=("android.accessibilityservice.AccessibilityService",),
            )
        ],
        receivers=[
            Component(
                ".Admin",
                exported=True,
                permission=P + "BIND_DEVICE_ADMIN",
                actions=("android.app.action.DEVICE_ADMIN_ENABLED",),
            ),
            Component(".Boot", exported=True, actions=("android.intent.action.BOOT_COMPLETED",)),
        ],
        dex=minimal_dex(["Lcom/flashlight/bright/Helper;", "onAccessibilityEvent"]),
        signer=make_signer("Bright Apps Ltd"),
    )


def benign_apk(folder: Path) -> Path:
    """An ordinary notes app from a store: INTERNET only, a launcher, its own signer."""
    return build_apk(
        folder,
        package="com.example.notes",
        label="Notes",
        permissions=[P + "INTERNET"],
        signer=make_signer("Example Notes Inc"),
    )
