"""The binary XML reader, on aapt's output and on hand-encoded (UTF-8, obfuscated, hostile)
documents."""

from __future__ import annotations

import contextlib
import random
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apkbuild import AAPT, Component, build_apk
from openmtd.engines.apps.axml import ANDROID_NS, MAX_DEPTH, parse_axml
from openmtd.engines.apps.zipread import ApkUnparseable

NAME_ID = 0x01010003
EXPORTED_ID = 0x01010010
TYPE_STRING, TYPE_INT, TYPE_BOOL, TYPE_REF = 0x03, 0x10, 0x12, 0x01


def _chunk(kind: int, header: bytes, body: bytes) -> bytes:
    return struct.pack("<HHI", kind, 8 + len(header), 8 + len(header) + len(body)) + header + body


def string_pool(strings: list[str], *, utf8: bool) -> bytes:
    data = bytearray()
    offsets = []
    for s in strings:
        offsets.append(len(data))
        if utf8:
            raw = s.encode()
            data += bytes([len(s), len(raw)]) + raw + b"\0"
        else:
            data += struct.pack("<H", len(s)) + s.encode("utf-16-le") + b"\0\0"
    while len(data) % 4:
        data.append(0)
    index = b"".join(struct.pack("<I", o) for o in offsets)
    header = struct.pack("<IIIII", len(strings), 0, 0x100 if utf8 else 0, 28 + len(index), 0)
    return _chunk(0x0001, header, index + bytes(data))


class Doc:
    """A tiny AXML encoder: strings are interned; attributes are (ns, name, type, data)."""

    def __init__(self, *, utf8: bool = False, resource_ids: tuple[int, ...] = ()) -> None:
        self.strings: list[str] = []
        self.utf8 = utf8
        self.resource_ids = resource_ids
        self.body = bytearray()

    def s(self, text: str) -> int:
        if text not in self.strings:
            self.strings.append(text)
        return self.strings.index(text)

    def start(self, tag: str, *attrs: tuple[int, int, int, int]) -> Doc:
        ext = struct.pack("<IIHHHHHH", 0xFFFFFFFF, self.s(tag), 20, 20, len(attrs), 0, 0, 0)
        body = b"".join(
            struct.pack("<IIIHBBI", ns, name, data if kind == TYPE_STRING else 0xFFFFFFFF, 8, 0,
                        kind, data)
            for ns, name, kind, data in attrs
        )  # fmt: skip
        self.body += _chunk(0x0102, struct.pack("<II", 1, 0xFFFFFFFF), ext + body)
        return self

    def end(self, tag: str) -> Doc:
        ext = struct.pack("<II", 0xFFFFFFFF, self.s(tag))
        self.body += _chunk(0x0103, struct.pack("<II", 1, 0xFFFFFFFF), ext)
        return self

    def encode(self) -> bytes:
        pool = string_pool(self.strings, utf8=self.utf8)
        resmap = b""
        if self.resource_ids:
            ids = b"".join(struct.pack("<I", i) for i in self.resource_ids)
            resmap = _chunk(0x0180, b"", ids)
        inner = pool + resmap + bytes(self.body)
        return struct.pack("<HHI", 0x0003, 8, 8 + len(inner)) + inner


def obfuscated_manifest(*, utf8: bool) -> bytes:
    """Attribute names "" and "x" (as obfuscators write them) identified only by resource id."""
    doc = Doc(utf8=utf8, resource_ids=(NAME_ID, EXPORTED_ID))
    assert doc.s("") == 0 and doc.s("x") == 1  # indices 0, 1 map to the resource ids
    ns = doc.s(ANDROID_NS)
    doc.start("manifest", (0xFFFFFFFF, doc.s("package"), TYPE_STRING, doc.s("com.ob.f")))
    doc.start("application")
    doc.start("service", (ns, 0, TYPE_STRING, doc.s(".Svc")), (ns, 1, TYPE_BOOL, 0xFFFFFFFF))
    doc.start("meta", (ns, doc.s("ref"), TYPE_REF, 0x7F010203), (ns, doc.s("n"), TYPE_INT, 42))
    doc.end("meta").end("service").end("application").end("manifest")
    return doc.encode()


@pytest.mark.parametrize("utf8", [True, False])
def test_framework_attributes_are_identified_by_resource_id(utf8: bool) -> None:
    root = parse_axml(obfuscated_manifest(utf8=utf8))
    assert root.tag == "manifest"
    assert root.attrs == {"package": "com.ob.f"}
    service = root.children[0].children[0]
    assert service.tag == "service"
    assert service.attrs == {"android:name": ".Svc", "android:exported": True}
    assert service.children[0].attrs == {"android:ref": "@0x7f010203", "android:n": 42}


def test_utf8_non_ascii_strings() -> None:
    doc = Doc(utf8=True)
    doc.start("manifest", (0xFFFFFFFF, doc.s("package"), TYPE_STRING, doc.s("caf\u00e9")))
    root = parse_axml(doc.end("manifest").encode())
    assert root.attrs["package"] == "caf\u00e9"


def test_aapt_manifest(tmp_path: Path) -> None:
    apk = build_apk(
        tmp_path,
        package="org.openmtd.axml",
        services=[Component(".Sync", exported=False, actions=("org.openmtd.SYNC",))],
    )
    with zipfile.ZipFile(apk) as z:
        root = parse_axml(z.read("AndroidManifest.xml"))
    assert root.attrs["package"] == "org.openmtd.axml"
    assert root.attrs["android:versionCode"] == 1
    app = next(c for c in root.children if c.tag == "application")
    tags = [c.tag for c in app.children]
    assert tags == ["activity", "service"]
    service = app.children[1]
    assert service.attrs == {"android:name": ".Sync", "android:exported": False}
    action = service.children[0].children[0]
    assert action.attrs == {"android:name": "org.openmtd.SYNC"}
    assert AAPT.exists()
    dump = subprocess.run(
        [str(AAPT), "dump", "xmltree", str(apk), "AndroidManifest.xml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "org.openmtd.SYNC" in dump


def _reason(data: bytes) -> str:
    with pytest.raises(ApkUnparseable) as info:
        parse_axml(data)
    return info.value.reason


def test_hostile_documents() -> None:
    assert _reason(b"") == "AndroidManifest.xml is too short to be binary XML"
    assert _reason(b'<?xml version="1.0"?><manifest/>') == (
        "AndroidManifest.xml is plain-text XML, not binary XML"
    )
    good = obfuscated_manifest(utf8=False)
    # a zero-sized chunk would loop forever in a naive reader
    zero = good[:8] + struct.pack("<HHI", 0x0001, 8, 0) + good[16:]
    assert _reason(zero) == "AndroidManifest.xml has a corrupt chunk at offset 8"
    # random bytes after a valid header
    junk = good[:8] + random.Random(7).randbytes(4000)
    assert _reason(junk).startswith("AndroidManifest.xml")


def test_string_index_out_of_range() -> None:
    doc = Doc()
    doc.start("manifest", (0xFFFFFFFF, doc.s("package"), TYPE_STRING, 999))
    assert _reason(doc.end("manifest").encode()) == (
        "AndroidManifest.xml refers to missing string 999"
    )


def test_depth_is_capped() -> None:
    doc = Doc()
    for _ in range(MAX_DEPTH + 1):
        doc.start("e")
    assert _reason(doc.encode()) == f"AndroidManifest.xml nests deeper than {MAX_DEPTH}"


def test_elements_without_string_pool() -> None:
    doc = Doc().start("manifest")
    body = bytes(doc.body)
    data = struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body
    assert _reason(data) == "AndroidManifest.xml has no string pool before its elements"


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(ApkUnparseable):
        parse_axml(data)


@settings(deadline=None, max_examples=300)
@given(st.data())
def test_mutated_documents_never_crash(data: st.DataObject) -> None:
    doc = bytearray(obfuscated_manifest(utf8=data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(doc) - 1))
        doc[pos] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ApkUnparseable):
        parse_axml(bytes(doc))
