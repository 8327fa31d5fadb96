"""Android binary XML (AXML), as aapt writes AndroidManifest.xml, read into a small tree.

Chunks: the XML header (0x0003), one string pool (0x0001, UTF-8 or UTF-16), the resource map
(0x0180: attribute name index -> resource id), namespaces (0x0100/0x0101) and elements
(0x0102/0x0103). Like Android, framework attributes are identified by their resource id, so an
obfuscated or empty name string still reads as e.g. "android:name". Every offset is checked and
element count and depth are capped; anything malformed raises `ApkUnparseable`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from openmtd.engines.apps.zipread import ApkUnparseable

RES_STRING_POOL = 0x0001
RES_XML_START_NAMESPACE = 0x0100
RES_XML_END_NAMESPACE = 0x0101
RES_XML_START_ELEMENT = 0x0102
RES_XML_END_ELEMENT = 0x0103
RES_XML_RESOURCE_MAP = 0x0180
UTF8_FLAG = 1 << 8
NO_INDEX = 0xFFFFFFFF

TYPE_NULL = 0x00
TYPE_REFERENCE = 0x01
TYPE_ATTRIBUTE = 0x02
TYPE_STRING = 0x03
TYPE_INT_DEC = 0x10
TYPE_INT_HEX = 0x11
TYPE_INT_BOOLEAN = 0x12

MAX_ELEMENTS = 100_000
MAX_DEPTH = 128
MAX_ATTRIBUTES = 1_000

ANDROID_NS = "http://schemas.android.com/apk/res/android"

# android:attr public resource ids (checked against framework-res.apk with `aapt dump resources`).
FRAMEWORK_ATTRIBUTES = {
    0x01010001: "label",
    0x01010003: "name",
    0x01010006: "permission",
    0x0101000E: "enabled",
    0x0101000F: "debuggable",
    0x01010010: "exported",
    0x01010018: "authorities",
    0x01010202: "targetActivity",
    0x0101020C: "minSdkVersion",
    0x0101021B: "versionCode",
    0x0101021C: "versionName",
    0x01010270: "targetSdkVersion",
    0x01010280: "allowBackup",
    0x010104EC: "usesCleartextTraffic",
    0x01010527: "networkSecurityConfig",
}

Value = str | int | bool | None


@dataclass(slots=True)
class Element:
    """One XML element: attributes keyed "android:name" (framework) or plain "package"."""

    tag: str
    attrs: dict[str, Value] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)


class _StringPool:
    """Strings decoded on first use (a manifest touches few of its pool's strings)."""

    def __init__(self, data: bytes, start: int, header_size: int, size: int) -> None:
        if header_size < 28:
            raise ApkUnparseable("AndroidManifest.xml string pool header is too small")
        count, _styles, flags, strings_start, _ = struct.unpack_from("<IIIII", data, start + 8)
        self.data = data
        self.utf8 = bool(flags & UTF8_FLAG)
        self.end = start + size
        self.offsets_at = start + header_size
        if count > (size - header_size) // 4:
            raise ApkUnparseable("AndroidManifest.xml string pool claims more strings than fit")
        self.count = count
        self.base = start + strings_start
        self._cache: dict[int, str] = {}

    def get(self, index: int) -> str:
        if index == NO_INDEX:
            return ""
        if index >= self.count:
            raise ApkUnparseable(f"AndroidManifest.xml refers to missing string {index}")
        cached = self._cache.get(index)
        if cached is None:
            (offset,) = struct.unpack_from("<I", self.data, self.offsets_at + 4 * index)
            cached = self._decode(self.base + offset)
            self._cache[index] = cached
        return cached

    def _decode(self, pos: int) -> str:
        data, end = self.data, self.end
        if self.utf8:
            _, pos = self._length8(pos)  # length in UTF-16 units, unused
            nbytes, pos = self._length8(pos)
            if pos + nbytes > end:
                raise ApkUnparseable("AndroidManifest.xml string runs past its pool")
            return data[pos : pos + nbytes].decode("utf-8", errors="replace")
        if pos + 2 > end:
            raise ApkUnparseable("AndroidManifest.xml string lies outside its pool")
        (units,) = struct.unpack_from("<H", data, pos)
        pos += 2
        if units & 0x8000:
            if pos + 2 > end:
                raise ApkUnparseable("AndroidManifest.xml string lies outside its pool")
            (low,) = struct.unpack_from("<H", data, pos)
            units = ((units & 0x7FFF) << 16) | low
            pos += 2
        if pos + 2 * units > end:
            raise ApkUnparseable("AndroidManifest.xml string runs past its pool")
        return data[pos : pos + 2 * units].decode("utf-16-le", errors="replace")

    def _length8(self, pos: int) -> tuple[int, int]:
        if pos + 2 > self.end or pos < 0:
            raise ApkUnparseable("AndroidManifest.xml string lies outside its pool")
        first = self.data[pos]
        if first & 0x80:
            return ((first & 0x7F) << 8) | self.data[pos + 1], pos + 2
        return first, pos + 1


def parse_axml(data: bytes) -> Element:
    """The root element of a binary XML document."""
    if len(data) < 8:
        raise ApkUnparseable("AndroidManifest.xml is too short to be binary XML")
    if data.lstrip()[:1] == b"<":
        raise ApkUnparseable("AndroidManifest.xml is plain-text XML, not binary XML")
    # Like Android, the header's chunk type is not checked (tampered headers still load).
    _kind, header_size, size = struct.unpack_from("<HHI", data, 0)
    if header_size < 8 or header_size > len(data):
        raise ApkUnparseable("AndroidManifest.xml is not Android binary XML")
    end = min(size, len(data)) if size >= 8 else len(data)
    pool: _StringPool | None = None
    resource_ids: tuple[int, ...] = ()
    namespaces: dict[str, str] = {}  # uri -> prefix
    stack: list[Element] = []
    root: Element | None = None
    elements = 0
    pos = header_size
    while pos + 8 <= end:
        kind, header_size, size = struct.unpack_from("<HHI", data, pos)
        if header_size < 8 or size < header_size or pos + size > end:
            raise ApkUnparseable(f"AndroidManifest.xml has a corrupt chunk at offset {pos}")
        if kind == RES_STRING_POOL and pool is None:
            pool = _StringPool(data, pos, header_size, size)
        elif kind == RES_XML_RESOURCE_MAP:
            count = (size - header_size) // 4
            resource_ids = struct.unpack_from(f"<{count}I", data, pos + header_size)
        elif kind in (RES_XML_START_NAMESPACE, RES_XML_END_NAMESPACE) and size >= 24:
            if pool is None:
                raise ApkUnparseable("AndroidManifest.xml has no string pool before its elements")
            prefix_index, uri_index = struct.unpack_from("<II", data, pos + 16)
            if kind == RES_XML_START_NAMESPACE:
                namespaces[pool.get(uri_index)] = pool.get(prefix_index)
        elif kind == RES_XML_START_ELEMENT:
            if pool is None:
                raise ApkUnparseable("AndroidManifest.xml has no string pool before its elements")
            elements += 1
            if elements > MAX_ELEMENTS:
                raise ApkUnparseable(f"AndroidManifest.xml has more than {MAX_ELEMENTS} elements")
            if len(stack) >= MAX_DEPTH:
                raise ApkUnparseable(f"AndroidManifest.xml nests deeper than {MAX_DEPTH}")
            element = _start_element(data, pos, header_size, size, pool, resource_ids)
            if stack:
                stack[-1].children.append(element)
            elif root is None:
                root = element
            stack.append(element)
        elif kind == RES_XML_END_ELEMENT and stack:
            stack.pop()
        pos += size
    if root is None:
        raise ApkUnparseable("AndroidManifest.xml has no elements")
    return root


def _start_element(
    data: bytes,
    pos: int,
    header_size: int,
    size: int,
    pool: _StringPool,
    resource_ids: tuple[int, ...],
) -> Element:
    ext = pos + header_size
    chunk_end = pos + size
    if ext + 20 > chunk_end:
        raise ApkUnparseable(f"AndroidManifest.xml element at offset {pos} is truncated")
    _ns, name_index, attr_start, attr_size, attr_count = struct.unpack_from("<IIHHH", data, ext)
    element = Element(pool.get(name_index))
    if attr_count > MAX_ATTRIBUTES:
        raise ApkUnparseable(f"AndroidManifest.xml element {element.tag} has too many attributes")
    stride = max(attr_size, 20)
    first = ext + attr_start
    if first + stride * attr_count > chunk_end:
        raise ApkUnparseable(f"AndroidManifest.xml element {element.tag} attributes are truncated")
    for i in range(attr_count):
        at = first + stride * i
        ns_index, name_idx, raw_index, _size, _res0, dtype, value = struct.unpack_from(
            "<IIIHBBI", data, at
        )
        key = _attribute_key(pool, ns_index, name_idx, resource_ids)
        element.attrs[key] = _typed_value(pool, raw_index, dtype, value)
    return element


def _attribute_key(
    pool: _StringPool, ns_index: int, name_index: int, resource_ids: tuple[int, ...]
) -> str:
    if name_index < len(resource_ids):
        known = FRAMEWORK_ATTRIBUTES.get(resource_ids[name_index])
        if known is not None:
            return f"android:{known}"
    name = pool.get(name_index)
    namespace = pool.get(ns_index)
    if not namespace:
        return name
    if namespace == ANDROID_NS:
        return f"android:{name}"
    return f"{{{namespace}}}{name}"


def _typed_value(pool: _StringPool, raw_index: int, dtype: int, value: int) -> Value:
    if dtype == TYPE_STRING:
        return pool.get(value if value < pool.count else raw_index)
    if dtype == TYPE_INT_BOOLEAN:
        return value != 0
    if dtype in (TYPE_INT_DEC, TYPE_INT_HEX):
        return value - (1 << 32) if value & 0x80000000 else value
    if dtype == TYPE_REFERENCE:
        return f"@0x{value:08x}"
    if dtype == TYPE_ATTRIBUTE:
        return f"?0x{value:08x}"
    if dtype == TYPE_NULL:
        return None if raw_index == NO_INDEX else pool.get(raw_index)
    if raw_index != NO_INDEX:
        return pool.get(raw_index)
    return f"0x{value:08x}"
