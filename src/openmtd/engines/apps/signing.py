"""Who signed an APK: the certificates of the v1 (JAR), v2 and v3 signature schemes.

This is static reading for identification, not signature verification: digests and
signatures are not checked, so a tampered APK still yields the signer it claims. The verdict
engine treats the signer as a claim (good enough to match a known-bad certificate; never proof
that a known-good developer built the file).

v2/v3: the APK Signing Block sits just before the central directory and ends with
"APK Sig Block 42"; its ID-value pairs hold length-prefixed sequences of signers whose signed
data carries the X.509 certificates (DER). v1: META-INF/*.RSA, *.DSA and *.EC are PKCS#7.
"""

from __future__ import annotations

import hashlib
import re
import struct
import warnings
from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import NameOID

from openmtd.domain.apps import ScanLimits, SigningCertificate
from openmtd.engines.apps.zipread import ApkUnparseable, ZipArchive

BLOCK_MAGIC = b"APK Sig Block 42"
V2_ID = 0x7109871A
V3_ID = 0xF05368C0
V31_ID = 0x1B93AD61
SCHEME_OF_BLOCK = {V2_ID: "v2", V3_ID: "v3", V31_ID: "v3"}  # v3.1 is reported as v3
SCHEME_ORDER = ("v1", "v2", "v3")
V1_BLOCK = re.compile(r"META-INF/[^/]+\.(RSA|DSA|EC)", re.IGNORECASE)
DEBUG_SUBJECT = {
    (NameOID.COMMON_NAME, "Android Debug"),
    (NameOID.ORGANIZATION_NAME, "Android"),
    (NameOID.COUNTRY_NAME, "US"),
}


def signing_block(data: bytes, cd_offset: int) -> dict[int, memoryview]:
    """The ID-value pairs of the APK Signing Block before `cd_offset` ({} when absent)."""
    if cd_offset < 32 or data[cd_offset - 16 : cd_offset] != BLOCK_MAGIC:
        return {}
    (size,) = struct.unpack_from("<Q", data, cd_offset - 24)
    start = cd_offset - size - 8
    if size < 24 or start < 0 or struct.unpack_from("<Q", data, start)[0] != size:
        raise ApkUnparseable("APK Signing Block has inconsistent sizes")
    view = memoryview(data)
    pairs: dict[int, memoryview] = {}
    pos, end = start + 8, cd_offset - 24
    while pos < end:
        if pos + 12 > end:
            raise ApkUnparseable("APK Signing Block has a truncated ID-value pair")
        length, block_id = struct.unpack_from("<QI", data, pos)
        if length < 4 or pos + 8 + length > end:
            raise ApkUnparseable("APK Signing Block has an ID-value pair of bad length")
        pairs.setdefault(block_id, view[pos + 12 : pos + 8 + length])
        pos += 8 + length
    return pairs


def _sequence(buf: memoryview, what: str) -> Iterator[memoryview]:
    """The items of a sequence of uint32-length-prefixed items."""
    pos = 0
    while pos < len(buf):
        if pos + 4 > len(buf):
            raise ApkUnparseable(f"{what} is truncated")
        (length,) = struct.unpack_from("<I", buf, pos)
        if pos + 4 + length > len(buf):
            raise ApkUnparseable(f"{what} has an item longer than its sequence")
        yield buf[pos + 4 : pos + 4 + length]
        pos += 4 + length


def _prefixed(buf: memoryview, what: str) -> memoryview:
    """The first uint32-length-prefixed item of `buf`."""
    for item in _sequence(buf, what):
        return item
    raise ApkUnparseable(f"{what} is empty")


def scheme_certificates(value: memoryview, scheme: str) -> list[bytes]:
    """The DER certificates of every signer in a v2 or v3 block value.

    Both schemes start each signer with length-prefixed signed data whose first two fields are
    the digests and the certificates."""
    what = f"{scheme} signature block"
    certs: list[bytes] = []
    for signer in _sequence(_prefixed(value, what), what):
        signed_data = _prefixed(signer, what)
        fields = _sequence(signed_data, what)
        next(fields, None)  # digests
        certificates = next(fields, None)
        if certificates is None:
            raise ApkUnparseable(f"{what} has a signer without certificates")
        certs.extend(bytes(c) for c in _sequence(certificates, what))
    return certs


def v1_certificates(archive: ZipArchive, limits: ScanLimits, *, tolerant: bool) -> list[bytes]:
    """The DER certificates of META-INF/*.RSA|DSA|EC. With `tolerant` (a v2/v3 block exists,
    so Android ignores v1), broken PKCS#7 blocks are skipped instead of refused."""
    certs: list[bytes] = []
    for entry in archive.entries:
        if not V1_BLOCK.fullmatch(entry.name):
            continue
        try:
            blob = archive.read(entry, max_bytes=limits.max_manifest_bytes)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = pkcs7.load_der_pkcs7_certificates(blob)
        except ApkUnparseable:
            if tolerant:
                continue
            raise
        except Exception as e:  # the library raises several types on hostile DER
            if tolerant:
                continue
            raise ApkUnparseable(f"{entry.name} is not a PKCS#7 signature block") from e
        certs.extend(c.public_bytes(Encoding.DER) for c in loaded)
    return certs


def describe(der: bytes, schemes: tuple[str, ...]) -> SigningCertificate:
    """A SigningCertificate for one DER certificate."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. negative serial numbers in old certificates
            cert = x509.load_der_x509_certificate(der)
            subject, issuer = cert.subject, cert.issuer
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            subject_text, issuer_text = subject.rfc4514_string(), issuer.rfc4514_string()
    except Exception as e:  # ValueError, InvalidVersion … on hostile DER
        raise ApkUnparseable("a signer certificate is not valid X.509") from e
    attributes = {(a.oid, a.value) for a in subject}
    return SigningCertificate(
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der).hexdigest(),
        md5=hashlib.md5(der).hexdigest(),
        subject=subject_text,
        issuer=issuer_text,
        not_before=not_before.isoformat(),
        not_after=not_after.isoformat(),
        schemes=tuple(s for s in SCHEME_ORDER if s in schemes),
        debug=attributes == DEBUG_SUBJECT,
    )


def read_signers(
    archive: ZipArchive, limits: ScanLimits
) -> tuple[tuple[SigningCertificate, ...], tuple[str, ...]]:
    """(every distinct signer certificate, newest scheme's first; the schemes present)."""
    pairs = signing_block(archive.data, archive.cd_offset)
    by_scheme: list[tuple[str, list[bytes]]] = []
    for block_id in (V31_ID, V3_ID, V2_ID):
        if block_id in pairs:
            scheme = SCHEME_OF_BLOCK[block_id]
            by_scheme.append((scheme, scheme_certificates(pairs[block_id], scheme)))
    v1 = v1_certificates(archive, limits, tolerant=bool(by_scheme))
    if v1:
        by_scheme.append(("v1", v1))
    schemes_of: dict[bytes, set[str]] = {}
    for scheme, certs in by_scheme:
        for der in certs:
            schemes_of.setdefault(der, set()).add(scheme)
    signers = tuple(describe(der, tuple(s)) for der, s in schemes_of.items())
    present = {scheme for scheme, _ in by_scheme}
    return signers, tuple(s for s in SCHEME_ORDER if s in present)
