"""The bounded ZIP reader: tolerant where Android is, strict (and fast) on hostile archives."""

from __future__ import annotations

import struct
import time
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from apkbuild import RawEntry, build_apk, deflated_zeros, raw_zip
from openmtd.domain.apps import ScanLimits
from openmtd.engines.apps.apk import ApkUnparseable, read_apk
from openmtd.engines.apps.zipread import ZipArchive, human_size

LIMITS = ScanLimits()


def archive(data: bytes, limits: ScanLimits = LIMITS) -> ZipArchive:
    return ZipArchive(data, limits)


def reason(data: bytes, limits: ScanLimits = LIMITS) -> str:
    with pytest.raises(ApkUnparseable) as info:
        za = ZipArchive(data, limits)
        for entry in za.entries:
            za.read(entry)
    return info.value.reason


def python_zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def _find_central(data: bytes, name: str) -> int:
    pos = data.index(b"PK\x01\x02")
    while True:
        (name_len, extra_len, comment_len) = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46 : pos + 46 + name_len] == name.encode():
            return pos
        pos += 46 + name_len + extra_len + comment_len


def test_reads_stored_and_deflated_entries() -> None:
    data = python_zip({"a.txt": b"hello"}, zipfile.ZIP_STORED)
    za = archive(data)
    assert [e.name for e in za.entries] == ["a.txt"]
    assert za.read(za.entries[0]) == b"hello"
    data = python_zip({"b.bin": b"abc" * 10_000})
    za = archive(data)
    assert za.read(za.entries[0]) == b"abc" * 10_000


def test_human_size() -> None:
    assert human_size(4 * 1024 * 1024) == "4 MiB"
    assert human_size(1536) == "1536 bytes"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "not a ZIP archive: no end-of-central-directory record"),
        (b"\x7fELF" + bytes(5000), "not a ZIP archive: no end-of-central-directory record"),
        (b"<html>not an apk</html>", "not a ZIP archive: no end-of-central-directory record"),
    ],
)
def test_non_zip_bytes(data: bytes, expected: str) -> None:
    assert reason(data) == expected


def test_empty_file_reason() -> None:
    with pytest.raises(ApkUnparseable, match="^empty file$"):
        read_apk(b"")


def test_encrypted_entry_is_refused() -> None:
    data = raw_zip([RawEntry.stored("AndroidManifest.xml", b"x" * 100)])
    pos = _find_central(data, "AndroidManifest.xml")
    data = patch(data, pos + 8, "<H", 1)  # general-purpose flag bit 0
    data = patch(data, 6, "<H", 1)
    assert reason(data) == "entry AndroidManifest.xml is encrypted"


def test_unknown_method_with_equal_sizes_reads_as_stored() -> None:
    """Malware lies in the method field; Android reads such an entry as stored."""
    data = raw_zip([RawEntry.stored("AndroidManifest.xml", b"manifest bytes")])
    pos = _find_central(data, "AndroidManifest.xml")
    data = patch(data, pos + 10, "<H", 0x1337)
    za = archive(data)
    assert za.read(za.entries[0]) == b"manifest bytes"


def test_unknown_method_with_different_sizes_is_refused() -> None:
    data = raw_zip([RawEntry.deflated("classes.dex", b"a" * 1000)])
    data = patch(data, _find_central(data, "classes.dex") + 10, "<H", 99)
    assert reason(data) == "entry classes.dex uses unsupported compression method 99"


def test_bogus_local_header_name_is_tolerated() -> None:
    """The central directory is authoritative: a wrong local name changes nothing."""
    data = raw_zip([RawEntry.stored("AndroidManifest.xml", b"content")])
    data = data.replace(b"AndroidManifest.xml", b"XXXXXXXXXXXXXXXXXXX", 1)
    za = archive(data)
    assert za.entries[0].name == "AndroidManifest.xml"
    assert za.read(za.entries[0]) == b"content"


def test_crc_mismatch() -> None:
    data = raw_zip([RawEntry.stored("a.bin", b"hello world")])
    data = data.replace(b"hello world", b"hellO world", 1)
    assert reason(data) == "entry a.bin fails its CRC-32 check"


def test_zip_bomb_with_honest_size_is_refused_before_inflating() -> None:
    stream, crc = deflated_zeros(1024)  # 1 GiB of zeros in about 1 MB
    data = raw_zip([RawEntry("AndroidManifest.xml", stream, 1 << 30, crc, method=8)])
    start = time.perf_counter()
    za = archive(data)
    with pytest.raises(ApkUnparseable) as info:
        za.read(za.entries[0], max_bytes=LIMITS.max_manifest_bytes)
    assert info.value.reason == "AndroidManifest.xml would inflate to more than 4 MiB"
    assert time.perf_counter() - start < 0.5


def test_zip_bomb_with_lying_size_stops_after_the_declared_size() -> None:
    stream, crc = deflated_zeros(1024)
    data = raw_zip([RawEntry("classes.dex", stream, 1000, crc, method=8)])
    start = time.perf_counter()
    assert reason(data) == "entry classes.dex inflates beyond its declared 1000 bytes"
    assert time.perf_counter() - start < 0.5


def test_compression_ratio_limit() -> None:
    stream, crc = deflated_zeros(16)
    data = raw_zip([RawEntry("classes.dex", stream, 16 << 20, crc, method=8)])
    assert reason(data) == "entry classes.dex has a compression ratio over 200:1 (zip bomb?)"
    # a small, very compressible entry is fine
    za = archive(python_zip({"zeros": bytes(100_000)}))
    assert za.read(za.entries[0]) == bytes(100_000)


def test_entry_size_and_total_budget() -> None:
    data = python_zip({"a": b"a" * 5000, "b": b"b" * 5000}, zipfile.ZIP_STORED)
    assert reason(data, ScanLimits(max_entry_bytes=4096)) == "a would inflate to more than 4 KiB"
    assert reason(data, ScanLimits(max_total_inflated_bytes=8192)) == (
        "inflating b would exceed the total of 8 KiB inflated bytes"
    )


def test_file_size_limit() -> None:
    data = python_zip({"a": b"a" * 5000}, zipfile.ZIP_STORED)
    assert reason(data, ScanLimits(max_apk_bytes=1024)) == "file is larger than 1 KiB"


def test_too_many_entries() -> None:
    data = python_zip({f"f{i}": b"" for i in range(11)})
    assert reason(data, ScanLimits(max_entries=10)) == "archive has 11 entries, more than 10"
    # a forged count is refused from the EOCD alone, before any record is parsed
    small = python_zip({"a": b"a"})
    eocd = small.rindex(b"PK\x05\x06")
    forged = patch(small, eocd + 8, "<HH", 0xFFFE, 0xFFFE)
    assert reason(forged, ScanLimits(max_entries=65_000)) == (
        "archive has 65534 entries, more than 65000"
    )
    assert reason(forged) == "central directory is too small for its 65534 entries"


def test_overlapping_entries() -> None:
    data = raw_zip([RawEntry.stored("a.bin", b"A" * 100), RawEntry.stored("b.bin", b"B" * 100)])
    pos = _find_central(data, "b.bin")
    data = patch(data, pos + 42, "<I", 0)  # b.bin now starts where a.bin does
    assert reason(data) == "entries a.bin and b.bin overlap"


def test_entry_beyond_the_data() -> None:
    data = raw_zip([RawEntry.stored("a.bin", b"A" * 100)])
    data = patch(data, _find_central(data, "a.bin") + 20, "<I", 10_000)  # compressed size
    assert reason(data) == "entry a.bin lies outside the archive data"


def test_duplicate_entries() -> None:
    data = raw_zip([RawEntry.stored("a", b"1"), RawEntry.stored("a", b"2")])
    assert reason(data) == "duplicate entry a"


def test_truncated_deflate_and_garbage_deflate() -> None:
    good = RawEntry.deflated("a", bytes(range(256)) * 50)
    cut = RawEntry("a", good.payload[: len(good.payload) // 2], good.size, good.crc32, 8)
    assert reason(raw_zip([cut])) == "entry a has truncated deflate data"
    junk = RawEntry("a", b"\xff" * 64, 1000, 0, 8)
    assert reason(raw_zip([junk])).startswith("entry a is not valid deflate data")


def test_zip64_end_of_central_directory() -> None:
    plain = python_zip({"a.txt": b"hello", "b.txt": b"world"}, zipfile.ZIP_STORED)
    eocd = plain.rindex(b"PK\x05\x06")
    _, _, _, count, cd_size, cd_offset, _ = struct.unpack_from("<HHHHIIH", plain, eocd + 4)
    record = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    za = archive(plain[:eocd] + record + locator + end)
    assert [za.read(e) for e in za.entries] == [b"hello", b"world"]
    missing_locator = plain[:eocd] + end
    assert reason(missing_locator) == (
        "ZIP64 sizes without a ZIP64 end-of-central-directory locator"
    )


def test_truncated_real_apk(tmp_path: Path) -> None:
    data = build_apk(tmp_path, package="org.openmtd.trunc").read_bytes()
    start = time.perf_counter()
    for cut in (1, 30, 100, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 23):
        with pytest.raises(ApkUnparseable):
            read_apk(data[:cut])
    assert time.perf_counter() - start < 1.0
