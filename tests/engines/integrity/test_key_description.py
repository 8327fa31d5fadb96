"""KeyDescription decoding and encoding, checked against Google's real sample chains.

The expected values were read independently with
``openssl asn1parse -inform der -in cert0.der -strparse 269`` (EC) and ``-strparse 269`` (RSA).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
from asn1crypto import core, parser  # type: ignore[import-untyped]
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.engines.integrity.key_description import (
    KEY_DESCRIPTION_OID,
    Enforcement,
    KeyDescription,
    KeyDescriptionError,
    RootOfTrust,
    SecurityLevel,
    VerifiedBootState,
    decode_key_description,
    encode_key_description,
    format_os_version,
    format_patch_level,
)

CHAINS = SHARED / "data" / "android-key-attestation" / "chains" / "der"
BOOT_HASH = bytes.fromhex("728db1274f1f1cf1571de4380b048a554ac4a380e76f5355083529084a937801")
SIGNER = "301aa3cb081134501c45f1422abc66c24224fd5ded5fdc8f17e697176fd866aa"


def extension_of(path: Path) -> bytes:
    cert = x509.load_der_x509_certificate(path.read_bytes())
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(KEY_DESCRIPTION_OID))
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    return ext.value.value


@pytest.mark.parametrize(
    ("chain", "creation_ms", "algorithm", "key_size"),
    [
        ("algorithm_EC_SecurityLevel_TEE", 0x01648D722545, 3, 256),
        ("algorithm_RSA_SecurityLevel_TEE", 0x01648D6F6B0F, 1, 2048),
    ],
)
def test_real_tee_leaf_decodes_to_the_values_openssl_shows(
    chain: str, creation_ms: int, algorithm: int, key_size: int
) -> None:
    d = decode_key_description(extension_of(CHAINS / chain / "cert0.der"))
    assert d.attestation_version == 3
    assert d.attestation_security_level is SecurityLevel.TRUSTED_ENVIRONMENT
    assert d.keymint_version == 4
    assert d.keymint_security_level is SecurityLevel.TRUSTED_ENVIRONMENT
    assert d.challenge == b"abc"
    assert d.unique_id == b""
    assert d.root_of_trust == RootOfTrust(
        verified_boot_key=bytes(32),
        device_locked=False,
        verified_boot_state=VerifiedBootState.UNVERIFIED,
        verified_boot_hash=BOOT_HASH,
        enforcement=Enforcement.HARDWARE,
    )
    assert d.root_of_trust.verified_boot_key_hex == "00" * 32
    assert d.os_version == 0
    assert d.os_patch_level == 201907
    assert d.vendor_patch_level == 201907
    assert d.boot_patch_level == 201907
    assert d.application_id_present
    assert len(d.packages) == 13
    assert d.packages[0] == ("android", 29)
    assert ("com.google.android.hiddenmenu", 1) in d.packages
    assert d.packages[-1] == ("com.android.providers.settings", 29)
    assert d.signature_digests == (SIGNER,)
    assert d.creation_time_ms == creation_ms
    assert d.origin == 0
    assert d.algorithm == algorithm
    assert d.key_size == key_size
    assert d.purposes == (2, 3)


def test_real_extension_survives_a_round_trip() -> None:
    d = decode_key_description(extension_of(CHAINS / "algorithm_RSA_SecurityLevel_TEE/cert0.der"))
    assert decode_key_description(encode_key_description(d)) == d


# --- hand-built descriptions ------------------------------------------------------------------


def sequence(contents: bytes) -> bytes:
    return bytes(parser.emit(0, 1, 16, contents))  # universal, constructed, SEQUENCE


def build(
    software: list[bytes],
    hardware: list[bytes],
    *,
    level: int = 1,
    extra_top: bytes = b"",
) -> bytes:
    return sequence(
        core.Integer(400).dump()
        + bytes([0x0A, 0x01, level])  # attestationSecurityLevel, ENUMERATED
        + core.Integer(400).dump()
        + bytes([0x0A, 0x01, 1])
        + core.OctetString(b"nonce").dump()
        + core.OctetString(b"").dump()
        + sequence(b"".join(software))
        + sequence(b"".join(hardware))
        + extra_top
    )


def root_of_trust(state: int = 0, locked: bool = True) -> bytes:
    body = (
        core.OctetString(b"\x01" * 32).dump()
        + core.Boolean(locked).dump()
        + bytes([0x0A, 0x01, state])  # ENUMERATED
    )
    return bytes(parser.emit(2, 1, 704, sequence(body)))  # [704] EXPLICIT


def test_unknown_tags_and_unmodelled_fields_are_skipped() -> None:
    der = build(
        [core.Integer(7, explicit=900).dump(), core.OctetString(b"x", explicit=724).dump()],
        [
            core.Null(explicit=305).dump(),  # earlyBootOnly: not modelled
            root_of_trust(),
            core.Integer(150000, explicit=705).dump(),
            core.Integer(123, explicit=4000).dump(),  # a tag no KeyMint has used yet
        ],
    )
    d = decode_key_description(der)
    assert d.attestation_version == 400
    assert d.os_version == 150000
    assert d.root_of_trust is not None
    assert d.root_of_trust.verified_boot_state is VerifiedBootState.VERIFIED
    assert d.root_of_trust.verified_boot_hash is None
    assert not d.application_id_present


def test_extra_trailing_fields_of_a_newer_version_are_tolerated() -> None:
    d = decode_key_description(build([], [], extra_top=core.Integer(1).dump()))
    assert d.challenge == b"nonce"


def test_root_of_trust_only_in_software_list_says_so() -> None:
    d = decode_key_description(build([root_of_trust(1, False)], []))
    assert d.root_of_trust is not None
    assert d.root_of_trust.enforcement is Enforcement.SOFTWARE
    assert d.root_of_trust.verified_boot_state is VerifiedBootState.SELF_SIGNED


def test_hardware_list_wins_over_software_list() -> None:
    d = decode_key_description(
        build(
            [core.Integer(110000, explicit=705).dump(), root_of_trust(2, False)],
            [core.Integer(140000, explicit=705).dump(), root_of_trust(0, True)],
        )
    )
    assert d.os_version == 140000
    assert d.root_of_trust is not None
    assert d.root_of_trust.enforcement is Enforcement.HARDWARE
    assert d.root_of_trust.device_locked


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", "empty"),
        (b"\x30\x03\x02\x01", "not valid DER"),
        (b"\x04\x03abc", "not valid DER"),
        (b"\x00" * 100_000, "at most"),
        (build([], [], level=7), "unknown security level 7"),
        (build([], [root_of_trust(state=9)]), "rootOfTrust [704] holds the unknown enumerated"),
        (
            build([], [core.Integer(1, explicit=705).dump(), core.Integer(2, explicit=705).dump()]),
            "tag [705] (osVersion) twice",
        ),
        (build([], [core.Integer(1).dump()]), "not an EXPLICIT context-specific tag"),
        (build([], [core.OctetString(b"x", explicit=705).dump()]), "osVersion [705] is malformed"),
        (
            build([core.OctetString(b"\x30\x03\x02\x01\x01", explicit=709).dump()], []),
            "attestationApplicationId",
        ),
    ],
)
def test_malformed_descriptions_raise_one_precise_error(der: bytes, message: str) -> None:
    with pytest.raises(KeyDescriptionError, match=re.escape(message)):
        decode_key_description(der)


def test_truncated_real_extension_is_rejected() -> None:
    real = extension_of(CHAINS / "algorithm_EC_SecurityLevel_TEE/cert0.der")
    for cut in (1, 10, 100, len(real) // 2, len(real) - 1):
        with pytest.raises(KeyDescriptionError):
            decode_key_description(real[:cut])


def test_non_utf8_package_name_is_rejected() -> None:
    package = sequence(core.OctetString(b"\xff\xfe").dump() + core.Integer(1).dump())
    app_id = sequence(parser.emit(0, 1, 17, package) + parser.emit(0, 1, 17, b""))
    der = build([core.OctetString(app_id, explicit=709).dump()], [])
    with pytest.raises(KeyDescriptionError, match="not UTF-8"):
        decode_key_description(der)


def test_lists_of_every_length_round_trip() -> None:
    # asn1crypto re-encodes a SEQUENCE whose header ends in 0x80 (128 bytes of contents) as if
    # it were indefinite-length; the encoder must not lose such a list
    base = KeyDescription(
        attestation_version=200,
        attestation_security_level=SecurityLevel.SOFTWARE,
        keymint_version=200,
        keymint_security_level=SecurityLevel.SOFTWARE,
        challenge=b"c",
    )
    for n in range(100, 420):
        d = replace(base, model="x" * n)
        assert decode_key_description(encode_key_description(d)) == d, n


def test_encoder_refuses_packages_without_an_application_id() -> None:
    d = KeyDescription(
        attestation_version=200,
        attestation_security_level=SecurityLevel.STRONG_BOX,
        keymint_version=200,
        keymint_security_level=SecurityLevel.STRONG_BOX,
        challenge=b"c",
        packages=(("a.b", 1),),
    )
    with pytest.raises(ValueError, match="without an application id"):
        encode_key_description(d)
    assert decode_key_description(encode_key_description(replace(d, application_id_present=True)))


@pytest.mark.parametrize(
    ("value", "text"), [(140000, "14.0.0"), (130102, "13.1.2"), (0, "unknown"), (None, "unknown")]
)
def test_format_os_version(value: int | None, text: str) -> None:
    assert format_os_version(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(202401, "2024-01"), (20240105, "2024-01-05"), (0, "unknown"), (None, "unknown"), (7, "7")],
)
def test_format_patch_level(value: int | None, text: str) -> None:
    assert format_patch_level(value) == text


# --- properties -------------------------------------------------------------------------------

small_ints = st.integers(min_value=0, max_value=2**63)
optional_ints = st.none() | small_ints
texts = st.none() | st.text(max_size=20)
levels = st.sampled_from(SecurityLevel)
roots = st.none() | st.builds(
    RootOfTrust,
    verified_boot_key=st.binary(max_size=64),
    device_locked=st.booleans(),
    verified_boot_state=st.sampled_from(VerifiedBootState),
    verified_boot_hash=st.none() | st.binary(max_size=64),
    enforcement=st.sampled_from(Enforcement),
)


@st.composite
def key_descriptions(draw: st.DrawFn) -> KeyDescription:
    app_id = draw(st.booleans())
    packages = (
        draw(st.lists(st.tuples(st.text(max_size=30), small_ints), max_size=4)) if app_id else []
    )
    digests = (
        draw(st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex), max_size=3))
        if app_id
        else []
    )
    return KeyDescription(
        attestation_version=draw(st.sampled_from([1, 2, 3, 4, 100, 200, 300, 400])),
        attestation_security_level=draw(levels),
        keymint_version=draw(small_ints),
        keymint_security_level=draw(levels),
        challenge=draw(st.binary(max_size=128)),
        unique_id=draw(st.binary(max_size=16)),
        root_of_trust=draw(roots),
        os_version=draw(optional_ints),
        os_patch_level=draw(optional_ints),
        vendor_patch_level=draw(optional_ints),
        boot_patch_level=draw(optional_ints),
        application_id_present=app_id,
        packages=tuple(packages),
        signature_digests=tuple(digests),
        creation_time_ms=draw(optional_ints),
        origin=draw(optional_ints),
        algorithm=draw(optional_ints),
        key_size=draw(optional_ints),
        purposes=tuple(draw(st.lists(st.integers(0, 7), max_size=4))),
        brand=draw(texts),
        device=draw(texts),
        product=draw(texts),
        manufacturer=draw(texts),
        model=draw(texts),
    )


@given(key_descriptions())
def test_encode_then_decode_gives_back_the_same_description(d: KeyDescription) -> None:
    decoded = decode_key_description(encode_key_description(d))
    # SET OF members come back in DER order (sorted by encoding), not in the order given
    assert sorted(decoded.packages) == sorted(d.packages)
    assert sorted(decoded.signature_digests) == sorted(d.signature_digests)
    assert sorted(decoded.purposes) == sorted(d.purposes)
    assert replace(decoded, packages=(), signature_digests=(), purposes=()) == replace(
        d, packages=(), signature_digests=(), purposes=()
    )


@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_key_description_error(data: bytes) -> None:
    with contextlib.suppress(KeyDescriptionError):
        decode_key_description(data)


REAL = extension_of(CHAINS / "algorithm_EC_SecurityLevel_TEE/cert0.der")


@given(st.integers(0, len(REAL) - 1), st.integers(0, 255))
def test_mutated_real_extension_decodes_or_raises_key_description_error(
    position: int, byte: int
) -> None:
    mutated = REAL[:position] + bytes([byte]) + REAL[position + 1 :]
    with contextlib.suppress(KeyDescriptionError):
        decode_key_description(mutated)
