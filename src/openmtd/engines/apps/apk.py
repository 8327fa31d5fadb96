"""Static facts of an APK from its bytes: `read_apk(data) -> ParsedApk`.

Only AndroidManifest.xml and the META-INF signature blocks are inflated to build the facts;
dex files and native libraries are inflated later, one at a time, by `ParsedApk.scan_members`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from openmtd.domain.apps import ApkFacts, Component, ComponentKind, ScanLimits, SigningCertificate
from openmtd.engines.apps.axml import Element, Value, parse_axml
from openmtd.engines.apps.signing import read_signers
from openmtd.engines.apps.zipread import ApkUnparseable, ZipArchive, ZipEntry

__all__ = ["ApkUnparseable", "ParsedApk", "read_apk"]

MANIFEST = "AndroidManifest.xml"
MAIN = "android.intent.action.MAIN"
LAUNCHER = "android.intent.category.LAUNCHER"
DEX = re.compile(r"classes(\d*)\.dex")
NATIVE_LIBRARY = re.compile(r"lib/[^/]+/[^/]+\.so")
PERMISSION_TAGS = ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m")
COMPONENT_TAGS = {kind.value: kind for kind in ComponentKind}


class ParsedApk:
    """The facts of one APK, and lazy access to the members worth scanning (dex, .so)."""

    def __init__(self, facts: ApkFacts, archive: ZipArchive, limits: ScanLimits) -> None:
        self.facts = facts
        self._archive = archive
        self._limits = limits

    def scan_members(self) -> Iterator[tuple[str, bytes]]:
        """(name, inflated bytes) of each dex file and native library, one at a time; members
        larger than `limits.max_yara_bytes` are skipped. Raises ApkUnparseable on a corrupt or
        over-budget member."""
        for name in (*self.facts.dex_files, *self.facts.native_libraries):
            entry = self._archive.get(name)
            if entry is None or entry.size > self._limits.max_yara_bytes:
                continue
            yield name, self._archive.read(entry, max_bytes=self._limits.max_yara_bytes)


def read_apk(data: bytes, limits: ScanLimits = ScanLimits()) -> ParsedApk:
    """Parse an APK held in memory; raises ApkUnparseable (with a one-line reason) when it
    cannot be analysed."""
    if not data:
        raise ApkUnparseable("empty file")
    archive = ZipArchive(data, limits)
    manifest_entry = archive.get(MANIFEST)
    if manifest_entry is None:
        raise ApkUnparseable("no AndroidManifest.xml entry")
    root = parse_axml(archive.read(manifest_entry, max_bytes=limits.max_manifest_bytes))
    if root.tag != "manifest":
        raise ApkUnparseable(f"AndroidManifest.xml root is <{root.tag}>, not <manifest>")
    signers, schemes = read_signers(archive, limits)
    facts = _facts(data, archive.entries, root, signers, schemes)
    return ParsedApk(facts, archive, limits)


def _facts(
    data: bytes,
    entries: tuple[ZipEntry, ...],
    root: Element,
    signers: tuple[SigningCertificate, ...],
    schemes: tuple[str, ...],
) -> ApkFacts:
    package = _text(root.attrs.get("package"))
    sdk = _first(root, "uses-sdk")
    app = _first(root, "application")
    app_attrs: dict[str, Value] = app.attrs if app is not None else {}
    sdk_attrs: dict[str, Value] = sdk.attrs if sdk is not None else {}
    components, has_launcher = _components(app, package)
    label = app_attrs.get("android:label")
    nsc = app_attrs.get("android:networkSecurityConfig")
    dex = sorted((e.name for e in entries if DEX.fullmatch(e.name)), key=_dex_number)
    return ApkFacts(
        sha256=hashlib.sha256(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size=len(data),
        package=package,
        version_code=_int(root.attrs.get("android:versionCode")),
        version_name=_text(root.attrs.get("android:versionName")),
        min_sdk=_int(sdk_attrs.get("android:minSdkVersion")),
        target_sdk=_int(sdk_attrs.get("android:targetSdkVersion")),
        label=label if isinstance(label, str) and not label.startswith("@") else "",
        permissions=_permissions(root),
        components=components,
        debuggable=_bool(app_attrs.get("android:debuggable")) is True,
        allow_backup=_bool(app_attrs.get("android:allowBackup")),
        uses_cleartext_traffic=_bool(app_attrs.get("android:usesCleartextTraffic")),
        network_security_config=nsc if isinstance(nsc, str) else "",
        has_launcher=has_launcher,
        signers=signers,
        signature_schemes=schemes,
        dex_files=tuple(dex),
        native_libraries=tuple(e.name for e in entries if NATIVE_LIBRARY.fullmatch(e.name)),
        entry_count=len(entries),
    )


def _dex_number(name: str) -> int:
    """classes.dex -> 1, classes2.dex -> 2 (the order Android loads them)."""
    digits = name[len("classes") : -len(".dex")]
    return int(digits) if digits else 1


def _first(parent: Element, tag: str) -> Element | None:
    return next((c for c in parent.children if c.tag == tag), None)


def _permissions(root: Element) -> tuple[str, ...]:
    names = (_text(c.attrs.get("android:name")) for c in root.children if c.tag in PERMISSION_TAGS)
    return tuple(dict.fromkeys(n for n in names if n))


def _components(app: Element | None, package: str) -> tuple[tuple[Component, ...], bool]:
    if app is None:
        return (), False
    components: list[Component] = []
    has_launcher = False
    for child in app.children:
        kind = COMPONENT_TAGS.get(child.tag)
        if kind is None:
            continue
        actions: dict[str, None] = {}
        categories: dict[str, None] = {}
        launcher_filter = False
        for intent_filter in (c for c in child.children if c.tag == "intent-filter"):
            acts = [
                _text(a.attrs.get("android:name"))
                for a in intent_filter.children
                if a.tag == "action"
            ]
            cats = [
                _text(a.attrs.get("android:name"))
                for a in intent_filter.children
                if a.tag == "category"
            ]
            actions.update(dict.fromkeys(a for a in acts if a))
            categories.update(dict.fromkeys(c for c in cats if c))
            launcher_filter = launcher_filter or (MAIN in acts and LAUNCHER in cats)
        enabled = _bool(child.attrs.get("android:enabled")) is not False
        component = Component(
            kind=kind,
            name=_qualify(_text(child.attrs.get("android:name")), package),
            exported=_bool(child.attrs.get("android:exported")),
            permission=_text(child.attrs.get("android:permission")),
            actions=tuple(actions),
            categories=tuple(categories),
            enabled=enabled,
        )
        components.append(component)
        is_activity = kind in (ComponentKind.ACTIVITY, ComponentKind.ACTIVITY_ALIAS)
        has_launcher = has_launcher or (is_activity and enabled and launcher_filter)
    return tuple(components), has_launcher


def _qualify(name: str, package: str) -> str:
    """Android's rule: ".Foo" and "Foo" (no dot) are relative to the package."""
    if name.startswith("."):
        return package + name
    if name and "." not in name:
        return f"{package}.{name}"
    return name


def _text(value: Value) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return str(value)


def _int(value: Value) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value, 0) if not value.startswith(("@", "?")) else None
    except ValueError:
        return None


def _bool(value: Value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if value in ("true", "false"):
        return value == "true"
    return None
