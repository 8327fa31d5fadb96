"""A bounded ZIP reader over `bytes`, shaped like Android's own (libziparchive).

The central directory is authoritative (names, methods, sizes, offsets); local headers only
locate the data. Every bound in `ScanLimits` is checked before anything is inflated, and
inflation never produces more than the declared size plus one byte, so a zip bomb costs at most
the limit. Anything hostile or broken raises `ApkUnparseable` with a one-line reason.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from openmtd.domain.apps import ScanLimits

EOCD_SIG = b"PK\x05\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"
ZIP64_EOCD_SIG = b"PK\x06\x06"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
EOCD_SIZE = 22
CENTRAL_SIZE = 46
LOCAL_SIZE = 30
MAX_COMMENT = 0xFFFF
STORED, DEFLATED = 0, 8
FLAG_ENCRYPTED = 0x1
# Entries smaller than this are never refused for their compression ratio: tiny files of
# zeros compress far beyond any sane ratio and cost nothing to inflate.
RATIO_FLOOR = 1024 * 1024


class ApkUnparseable(Exception):
    """The bytes cannot be analysed as an APK; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def human_size(n: int) -> str:
    """4194304 -> "4 MiB", 1536 -> "1536 bytes"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One central-directory record."""

    name: str
    method: int
    flags: int
    crc32: int
    compressed_size: int
    size: int
    local_offset: int


class ZipArchive:
    """The entries of a ZIP held in memory; `read` inflates one entry within the limits."""

    def __init__(self, data: bytes, limits: ScanLimits) -> None:
        if len(data) > limits.max_apk_bytes:
            raise ApkUnparseable(f"file is larger than {human_size(limits.max_apk_bytes)}")
        self.data = data
        self.limits = limits
        self._view = memoryview(data)
        self._inflated = 0
        eocd = self._find_eocd()
        count, self.cd_size, self.cd_offset = self._directory_location(eocd)
        if count > limits.max_entries:
            raise ApkUnparseable(f"archive has {count} entries, more than {limits.max_entries}")
        if self.cd_offset + self.cd_size > len(data):
            raise ApkUnparseable("central directory runs past the end of the file (truncated?)")
        self.entries = self._parse_central_directory(count)
        self._by_name = {e.name: e for e in self.entries}
        self._check_layout()

    # --- locating ---------------------------------------------------------------------------

    def _find_eocd(self) -> int:
        data = self.data
        lowest = max(0, len(data) - EOCD_SIZE - MAX_COMMENT)
        pos = data.rfind(EOCD_SIG, lowest)
        while pos >= 0:
            if pos + EOCD_SIZE <= len(data):
                (comment_len,) = struct.unpack_from("<H", data, pos + 20)
                if pos + EOCD_SIZE + comment_len <= len(data):
                    return pos
            pos = data.rfind(EOCD_SIG, lowest, pos)
        raise ApkUnparseable("not a ZIP archive: no end-of-central-directory record")

    def _directory_location(self, eocd: int) -> tuple[int, int, int]:
        disk, cd_disk, _, count, cd_size, cd_offset = struct.unpack_from(
            "<HHHHII", self.data, eocd + 4
        )
        if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
            return self._zip64_location(eocd)
        if disk != 0 or cd_disk != 0:
            raise ApkUnparseable("multi-disk ZIP archives are not supported")
        if cd_offset + cd_size > eocd:
            raise ApkUnparseable("central directory overlaps the end-of-central-directory record")
        return count, cd_size, cd_offset

    def _zip64_location(self, eocd: int) -> tuple[int, int, int]:
        locator = eocd - 20
        if locator < 0 or self.data[locator : locator + 4] != ZIP64_LOCATOR_SIG:
            raise ApkUnparseable("ZIP64 sizes without a ZIP64 end-of-central-directory locator")
        (record,) = struct.unpack_from("<Q", self.data, locator + 8)
        if record + 56 > locator or self.data[record : record + 4] != ZIP64_EOCD_SIG:
            raise ApkUnparseable("ZIP64 end-of-central-directory record is missing or corrupt")
        count, _, cd_size, cd_offset = struct.unpack_from("<QQQQ", self.data, record + 24)
        if cd_offset + cd_size > record:
            raise ApkUnparseable("central directory overlaps the ZIP64 end-of-central-directory")
        return count, cd_size, cd_offset

    def _parse_central_directory(self, count: int) -> tuple[ZipEntry, ...]:
        data = self.data
        end = self.cd_offset + self.cd_size
        if count * CENTRAL_SIZE > self.cd_size:
            raise ApkUnparseable(f"central directory is too small for its {count} entries")
        pos = self.cd_offset
        entries: list[ZipEntry] = []
        for index in range(count):
            if pos + CENTRAL_SIZE > end or data[pos : pos + 4] != CENTRAL_SIG:
                raise ApkUnparseable(f"central directory record {index} is corrupt")
            (flags, method, _, _, crc, csize, size, name_len, extra_len, comment_len) = (
                struct.unpack_from("<HHHHIIIHHH", data, pos + 8)
            )
            (local_offset,) = struct.unpack_from("<I", data, pos + 42)
            name_end = pos + CENTRAL_SIZE + name_len
            next_pos = name_end + extra_len + comment_len
            if next_pos > end:
                raise ApkUnparseable(f"central directory record {index} runs past its end")
            name = data[pos + CENTRAL_SIZE : name_end].decode("utf-8", errors="replace")
            if 0xFFFFFFFF in (csize, size, local_offset):
                size, csize, local_offset = _zip64_extra(
                    data[name_end : name_end + extra_len], size, csize, local_offset, name
                )
            entries.append(ZipEntry(name, method, flags, crc, csize, size, local_offset))
            pos = next_pos
        return tuple(entries)

    def _check_layout(self) -> None:
        """Each entry's data lies before the central directory and no two entries overlap
        (overlapping entries are how non-recursive zip bombs multiply their output)."""
        seen: set[str] = set()
        for entry in self.entries:
            if entry.name in seen:
                raise ApkUnparseable(f"duplicate entry {entry.name}")
            seen.add(entry.name)
        ordered = sorted(self.entries, key=lambda e: e.local_offset)
        for current, following in zip(ordered, [*ordered[1:], None], strict=True):
            span_end = current.local_offset + LOCAL_SIZE + current.compressed_size
            limit = self.cd_offset if following is None else following.local_offset
            if span_end > self.cd_offset:
                raise ApkUnparseable(f"entry {current.name} lies outside the archive data")
            if following is not None and span_end > limit:
                raise ApkUnparseable(f"entries {current.name} and {following.name} overlap")

    # --- reading ----------------------------------------------------------------------------

    def get(self, name: str) -> ZipEntry | None:
        return self._by_name.get(name)

    def data_offset(self, entry: ZipEntry) -> int:
        """Where the entry's (compressed) data starts, from its local header."""
        pos = entry.local_offset
        if self.data[pos : pos + 4] != LOCAL_SIG:
            raise ApkUnparseable(f"entry {entry.name} has no local header")
        name_len, extra_len = struct.unpack_from("<HH", self.data, pos + 26)
        start: int = pos + LOCAL_SIZE + name_len + extra_len
        if start + entry.compressed_size > self.cd_offset:
            raise ApkUnparseable(f"entry {entry.name} is truncated or overlaps the directory")
        return start

    def read(self, entry: ZipEntry, *, max_bytes: int | None = None) -> bytes:
        """The entry's inflated bytes; refuses (before inflating) anything over the limits."""
        limits = self.limits
        cap = (
            limits.max_entry_bytes if max_bytes is None else min(max_bytes, limits.max_entry_bytes)
        )
        name = entry.name
        if entry.flags & FLAG_ENCRYPTED:
            raise ApkUnparseable(f"entry {name} is encrypted")
        if entry.size > cap:
            raise ApkUnparseable(f"{name} would inflate to more than {human_size(cap)}")
        if self._inflated + entry.size > limits.max_total_inflated_bytes:
            raise ApkUnparseable(
                f"inflating {name} would exceed the total of "
                f"{human_size(limits.max_total_inflated_bytes)} inflated bytes"
            )
        method = entry.method
        if method not in (STORED, DEFLATED):
            if entry.size != entry.compressed_size:
                raise ApkUnparseable(f"entry {name} uses unsupported compression method {method}")
            method = STORED  # Android tolerates a lying method field on same-size entries
        start = self.data_offset(entry)
        raw = self._view[start : start + entry.compressed_size]
        if method == STORED:
            if entry.size != entry.compressed_size:
                raise ApkUnparseable(f"stored entry {name} has inconsistent sizes")
            out = bytes(raw)
        else:
            out = self._inflate(entry, raw)
        if zlib.crc32(out) != entry.crc32:
            raise ApkUnparseable(f"entry {name} fails its CRC-32 check")
        self._inflated += len(out)
        return out

    def _inflate(self, entry: ZipEntry, raw: memoryview) -> bytes:
        name = entry.name
        if entry.size > RATIO_FLOOR and entry.size > self.limits.max_ratio * max(
            1, entry.compressed_size
        ):
            raise ApkUnparseable(
                f"entry {name} has a compression ratio over {self.limits.max_ratio}:1 (zip bomb?)"
            )
        inflater = zlib.decompressobj(-15)
        try:
            # max_length = declared size + 1: a lying size is caught after one extra byte.
            out = inflater.decompress(raw, entry.size + 1)
        except zlib.error as e:
            raise ApkUnparseable(f"entry {name} is not valid deflate data ({e})") from e
        if len(out) > entry.size:
            raise ApkUnparseable(f"entry {name} inflates beyond its declared {entry.size} bytes")
        if not inflater.eof:
            raise ApkUnparseable(f"entry {name} has truncated deflate data")
        if len(out) != entry.size:
            raise ApkUnparseable(f"entry {name} inflates to fewer bytes than declared")
        return out


def _zip64_extra(
    extra: bytes, size: int, csize: int, offset: int, name: str
) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields from the ZIP64 extended-information extra field (id 1)."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 1:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            fields = [size, csize, offset]
            for i, field in enumerate(fields):
                if field == 0xFFFFFFFF:
                    if not values:
                        break
                    fields[i] = values.pop(0)
            else:
                return fields[0], fields[1], fields[2]
            break
        pos += 4 + length
    raise ApkUnparseable(f"entry {name} has ZIP64 sizes without a valid ZIP64 extra field")
