"""The Android Key Attestation extension (KeyDescription, OID 1.3.6.1.4.1.11129.2.1.17).

Google publishes the schema on developer.android.com ("Verify hardware-backed key pairs with
key attestation"). The outer KeyDescription has had the same eight fields since version 1;
what grows from Keymaster 1 to KeyMint 400 is the AuthorizationList, a SEQUENCE of EXPLICIT
context-tagged, all-optional fields. The asn1crypto classes below spell the schema out (and
write it); reading an AuthorizationList walks its elements by tag instead, so that fields this
module does not model, or tags a newer KeyMint adds, never stop a decode.

``decode_key_description`` turns the extension's DER into a ``KeyDescription``;
``encode_key_description`` does the reverse (the software test keystore uses it). Malformed
input raises ``KeyDescriptionError`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from asn1crypto import core, parser  # type: ignore[import-untyped]

KEY_DESCRIPTION_OID = "1.3.6.1.4.1.11129.2.1.17"
MAX_KEY_DESCRIPTION_BYTES = 64 * 1024

_CONTEXT_CLASS = 2
_CONSTRUCTED = 1


class KeyDescriptionError(ValueError):
    """The extension's bytes are not a KeyDescription; the message says exactly why."""


class SecurityLevel(StrEnum):
    """Where the key lives (and where the attestation was produced)."""

    SOFTWARE = "Software"
    TRUSTED_ENVIRONMENT = "TrustedEnvironment"
    STRONG_BOX = "StrongBox"


class VerifiedBootState(StrEnum):
    """Android Verified Boot's verdict on the running OS."""

    VERIFIED = "Verified"  # stock image, signed by the manufacturer's key
    SELF_SIGNED = "SelfSigned"  # signed by a user-installed key: a custom ROM
    UNVERIFIED = "Unverified"  # bootloader unlocked, anything can boot
    FAILED = "Failed"  # verification failed


class Enforcement(StrEnum):
    """The AuthorizationList a value was read from."""

    HARDWARE = "hardwareEnforced"
    SOFTWARE = "softwareEnforced"


_SECURITY_LEVEL_CODES = {
    0: SecurityLevel.SOFTWARE,
    1: SecurityLevel.TRUSTED_ENVIRONMENT,
    2: SecurityLevel.STRONG_BOX,
}
_BOOT_STATE_CODES = {
    0: VerifiedBootState.VERIFIED,
    1: VerifiedBootState.SELF_SIGNED,
    2: VerifiedBootState.UNVERIFIED,
    3: VerifiedBootState.FAILED,
}


# ---------------------------------------------------------------------------------------------
# asn1crypto schema (Google's published ASN.1)
# ---------------------------------------------------------------------------------------------


class SecurityLevelAsn1(core.Enumerated):  # type: ignore[misc]  # asn1crypto has no types
    _map = {code: level.value for code, level in _SECURITY_LEVEL_CODES.items()}


class VerifiedBootStateAsn1(core.Enumerated):  # type: ignore[misc]  # asn1crypto has no types
    _map = {code: state.value for code, state in _BOOT_STATE_CODES.items()}


class RootOfTrustAsn1(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    _fields = [
        ("verifiedBootKey", core.OctetString),
        ("deviceLocked", core.Boolean),
        ("verifiedBootState", VerifiedBootStateAsn1),
        ("verifiedBootHash", core.OctetString, {"optional": True}),  # attestation v3 and later
    ]


class IntegerSet(core.SetOf):  # type: ignore[misc]  # asn1crypto has no types
    _child_spec = core.Integer


class AttestationPackageInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    _fields = [("packageName", core.OctetString), ("version", core.Integer)]


class AttestationPackageInfoSet(core.SetOf):  # type: ignore[misc]  # asn1crypto has no types
    _child_spec = AttestationPackageInfo


class SignatureDigestSet(core.SetOf):  # type: ignore[misc]  # asn1crypto has no types
    _child_spec = core.OctetString


class AttestationApplicationId(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    _fields = [
        ("packageInfos", AttestationPackageInfoSet),
        ("signatureDigests", SignatureDigestSet),
    ]


# (name, tag, type) of the AuthorizationList fields this module reads and writes, in tag order.
AUTHORIZATION_FIELDS: tuple[tuple[str, int, type[core.Asn1Value]], ...] = (
    ("purpose", 1, IntegerSet),
    ("algorithm", 2, core.Integer),
    ("keySize", 3, core.Integer),
    ("digest", 5, IntegerSet),
    ("padding", 6, IntegerSet),
    ("ecCurve", 10, core.Integer),
    ("rsaPublicExponent", 200, core.Integer),
    ("noAuthRequired", 503, core.Null),
    ("creationDateTime", 701, core.Integer),
    ("origin", 702, core.Integer),
    ("rootOfTrust", 704, RootOfTrustAsn1),
    ("osVersion", 705, core.Integer),
    ("osPatchLevel", 706, core.Integer),
    ("attestationApplicationId", 709, core.OctetString),
    ("attestationIdBrand", 710, core.OctetString),
    ("attestationIdDevice", 711, core.OctetString),
    ("attestationIdProduct", 712, core.OctetString),
    ("attestationIdManufacturer", 716, core.OctetString),
    ("attestationIdModel", 717, core.OctetString),
    ("vendorPatchLevel", 718, core.Integer),
    ("bootPatchLevel", 719, core.Integer),
)
_FIELD_BY_TAG = {tag: (name, spec) for name, tag, spec in AUTHORIZATION_FIELDS}


class AuthorizationList(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    """The modelled part of AuthorizationList; every field EXPLICIT-tagged and optional."""

    _fields = [
        (name, spec, {"explicit": tag, "optional": True})
        for name, tag, spec in AUTHORIZATION_FIELDS
    ]


class KeyDescriptionAsn1(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    """The published KeyDescription; the encoder writes it."""

    _fields = [
        ("attestationVersion", core.Integer),
        ("attestationSecurityLevel", SecurityLevelAsn1),
        ("keyMintVersion", core.Integer),  # keymasterVersion before attestation version 100
        ("keyMintSecurityLevel", SecurityLevelAsn1),
        ("attestationChallenge", core.OctetString),
        ("uniqueId", core.OctetString),
        ("softwareEnforced", AuthorizationList),
        ("hardwareEnforced", AuthorizationList),
    ]


class RawAuthorizationList(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    """An AuthorizationList kept as bytes; ``_read_authorization_list`` walks it by tag.
    Read-only: asn1crypto cannot re-encode a SEQUENCE without declared fields."""


class TolerantKeyDescriptionAsn1(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    """KeyDescriptionAsn1 with both AuthorizationLists left raw, for decoding."""

    _fields = [
        (name, RawAuthorizationList if spec is AuthorizationList else spec)
        for name, spec in KeyDescriptionAsn1._fields
    ]


# ---------------------------------------------------------------------------------------------
# Typed result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RootOfTrust:
    verified_boot_key: bytes
    device_locked: bool
    verified_boot_state: VerifiedBootState
    verified_boot_hash: bytes | None
    enforcement: Enforcement  # hardwareEnforced unless only the software list carried it

    @property
    def verified_boot_key_hex(self) -> str:
        return self.verified_boot_key.hex()


@dataclass(frozen=True, slots=True)
class KeyDescription:
    """The attested facts. Per-key values are read from hardwareEnforced when that list has
    them, else from softwareEnforced; the root of trust says which list it came from."""

    attestation_version: int
    attestation_security_level: SecurityLevel
    keymint_version: int
    keymint_security_level: SecurityLevel
    challenge: bytes
    unique_id: bytes = b""
    root_of_trust: RootOfTrust | None = None
    os_version: int | None = None  # 140000 = 14.0.0
    os_patch_level: int | None = None  # YYYYMM
    vendor_patch_level: int | None = None  # YYYYMMDD (or YYYYMM)
    boot_patch_level: int | None = None
    application_id_present: bool = False
    packages: tuple[tuple[str, int], ...] = ()
    signature_digests: tuple[str, ...] = ()  # SHA-256 of the app's signing certificates, hex
    creation_time_ms: int | None = None
    origin: int | None = None
    algorithm: int | None = None
    key_size: int | None = None
    purposes: tuple[int, ...] = ()
    brand: str | None = None
    device: str | None = None
    product: str | None = None
    manufacturer: str | None = None
    model: str | None = None


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def decode_key_description(der: bytes) -> KeyDescription:
    """Parse the extension value (the DER of a KeyDescription)."""
    if not der:
        raise KeyDescriptionError("the key description is empty")
    if len(der) > MAX_KEY_DESCRIPTION_BYTES:
        raise KeyDescriptionError(
            f"the key description is {len(der)} bytes; at most {MAX_KEY_DESCRIPTION_BYTES} "
            "are accepted"
        )
    try:
        return _decode(der)
    except KeyDescriptionError:
        raise
    except Exception as e:  # noqa: BLE001 - asn1crypto raises assorted types on hostile bytes
        raise KeyDescriptionError(
            f"the key description is not valid DER for the published schema: "
            f"{type(e).__name__}: {e}"
        ) from None


def _decode(der: bytes) -> KeyDescription:
    outer = TolerantKeyDescriptionAsn1.load(der, strict=True)
    software = _read_authorization_list(outer["softwareEnforced"].contents, "softwareEnforced")
    hardware = _read_authorization_list(outer["hardwareEnforced"].contents, "hardwareEnforced")
    merged = {**software, **hardware}  # hardwareEnforced wins where both lists have a value
    app_id = merged.get("attestationApplicationId")
    packages, digests = _read_application_id(app_id) if app_id is not None else ((), ())
    return KeyDescription(
        attestation_version=_integer(outer["attestationVersion"].native, "attestationVersion"),
        attestation_security_level=_security_level(
            outer["attestationSecurityLevel"], "attestationSecurityLevel"
        ),
        keymint_version=_integer(outer["keyMintVersion"].native, "keyMintVersion"),
        keymint_security_level=_security_level(
            outer["keyMintSecurityLevel"], "keyMintSecurityLevel"
        ),
        challenge=_octets(outer["attestationChallenge"].native, "attestationChallenge"),
        unique_id=_octets(outer["uniqueId"].native, "uniqueId"),
        root_of_trust=_root_of_trust(hardware, software),
        os_version=merged.get("osVersion"),
        os_patch_level=merged.get("osPatchLevel"),
        vendor_patch_level=merged.get("vendorPatchLevel"),
        boot_patch_level=merged.get("bootPatchLevel"),
        application_id_present=app_id is not None,
        packages=packages,
        signature_digests=digests,
        creation_time_ms=merged.get("creationDateTime"),
        origin=merged.get("origin"),
        algorithm=merged.get("algorithm"),
        key_size=merged.get("keySize"),
        purposes=tuple(merged.get("purpose") or ()),
        brand=_optional_text(merged.get("attestationIdBrand")),
        device=_optional_text(merged.get("attestationIdDevice")),
        product=_optional_text(merged.get("attestationIdProduct")),
        manufacturer=_optional_text(merged.get("attestationIdManufacturer")),
        model=_optional_text(merged.get("attestationIdModel")),
    )


def _read_authorization_list(contents: bytes, which: str) -> dict[str, Any]:
    """The modelled fields of one AuthorizationList as native values, by name; tags this
    module does not model are skipped."""
    fields: dict[str, Any] = {}
    rest = contents
    while rest:
        class_, method, tag, header, inner, trailer = parser.parse(rest, strict=False)
        rest = rest[len(header) + len(inner) + len(trailer) :]
        if class_ != _CONTEXT_CLASS or method != _CONSTRUCTED:
            raise KeyDescriptionError(
                f"{which} holds an element (class {class_}, tag {tag}) that is not an "
                "EXPLICIT context-specific tag"
            )
        known = _FIELD_BY_TAG.get(tag)
        if known is None:
            continue  # a field this verifier does not use, or one from a newer KeyMint
        name, spec = known
        if name in fields:
            raise KeyDescriptionError(f"{which} holds tag [{tag}] ({name}) twice")
        fields[name] = _load_field(spec, inner, f"{which} field {name} [{tag}]")
    return fields


def _load_field(spec: type[core.Asn1Value], der: bytes, where: str) -> Any:
    """Parse one field completely, so malformed contents are reported with its name."""
    try:
        return spec.load(der, strict=True).native
    except KeyError as e:
        raise KeyDescriptionError(f"{where} holds the unknown enumerated value {e}") from None
    except Exception as e:  # noqa: BLE001 - asn1crypto raises assorted types on hostile bytes
        raise KeyDescriptionError(f"{where} is malformed: {type(e).__name__}: {e}") from None


def _root_of_trust(hardware: dict[str, Any], software: dict[str, Any]) -> RootOfTrust | None:
    if "rootOfTrust" in hardware:
        value, enforcement = hardware["rootOfTrust"], Enforcement.HARDWARE
    elif "rootOfTrust" in software:
        value, enforcement = software["rootOfTrust"], Enforcement.SOFTWARE
    else:
        return None
    return RootOfTrust(
        verified_boot_key=value["verifiedBootKey"],
        device_locked=value["deviceLocked"],
        verified_boot_state=VerifiedBootState(value["verifiedBootState"]),
        verified_boot_hash=value["verifiedBootHash"],
        enforcement=enforcement,
    )


def _read_application_id(
    der: bytes,
) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
    app_id = _load_field(AttestationApplicationId, der, "attestationApplicationId")
    packages: list[tuple[str, int]] = []
    for info in app_id["packageInfos"]:
        raw_name = info["packageName"]
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyDescriptionError(
                f"attestationApplicationId names a package that is not UTF-8: {raw_name!r}"
            ) from None
        packages.append((name, info["version"]))
    return tuple(packages), tuple(d.hex() for d in app_id["signatureDigests"])


def _integer(native: object, name: str) -> int:
    if not isinstance(native, int):
        raise KeyDescriptionError(f"{name} is not an INTEGER")
    return native


def _octets(native: object, name: str) -> bytes:
    if not isinstance(native, bytes):
        raise KeyDescriptionError(f"{name} is not an OCTET STRING")
    return native


def _security_level(value: core.Asn1Value, name: str) -> SecurityLevel:
    code = int(value)
    level = _SECURITY_LEVEL_CODES.get(code)
    if level is None:
        raise KeyDescriptionError(f"{name} has the unknown security level {code}")
    return level


def _optional_text(native: bytes | None) -> str | None:
    return None if native is None else native.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# Encoding (the software test keystore)
# ---------------------------------------------------------------------------------------------


def encode_key_description(description: KeyDescription) -> bytes:
    """The extension DER for ``description``.

    Key properties, OS version and patch levels go to hardwareEnforced unless the attestation
    security level is Software; the root of trust goes where its ``enforcement`` says;
    creation time and the application id go to softwareEnforced, as KeyMint writes them.
    SET OF values are written in DER order (sorted by their encoding), which is the order
    decoding gives them back in.
    """
    if not description.application_id_present and (
        description.packages or description.signature_digests
    ):
        raise ValueError("packages or signature digests given without an application id")
    software, hardware = _split_authorizations(description)
    return bytes(
        KeyDescriptionAsn1(
            {
                "attestationVersion": description.attestation_version,
                "attestationSecurityLevel": _level_code(description.attestation_security_level),
                "keyMintVersion": description.keymint_version,
                "keyMintSecurityLevel": _level_code(description.keymint_security_level),
                "attestationChallenge": description.challenge,
                "uniqueId": description.unique_id,
                "softwareEnforced": _authorization_list(software),
                "hardwareEnforced": _authorization_list(hardware),
            }
        ).dump()
    )


def _authorization_list(values: dict[str, Any]) -> Any:
    return AuthorizationList(values) if values else AuthorizationList.load(b"\x30\x00")


def _split_authorizations(d: KeyDescription) -> tuple[dict[str, Any], dict[str, Any]]:
    in_hardware = d.attestation_security_level is not SecurityLevel.SOFTWARE
    software: dict[str, Any] = {}
    hardware: dict[str, Any] = {}
    device_list = hardware if in_hardware else software
    optional: dict[str, Any] = {
        "algorithm": d.algorithm,
        "keySize": d.key_size,
        "origin": d.origin,
        "osVersion": d.os_version,
        "osPatchLevel": d.os_patch_level,
        "vendorPatchLevel": d.vendor_patch_level,
        "bootPatchLevel": d.boot_patch_level,
    }
    texts = {
        "attestationIdBrand": d.brand,
        "attestationIdDevice": d.device,
        "attestationIdProduct": d.product,
        "attestationIdManufacturer": d.manufacturer,
        "attestationIdModel": d.model,
    }
    device_list.update({k: v for k, v in optional.items() if v is not None})
    device_list.update({k: v.encode("utf-8") for k, v in texts.items() if v is not None})
    if d.purposes:
        device_list["purpose"] = list(d.purposes)
    if d.root_of_trust is not None:
        rot_list = hardware if d.root_of_trust.enforcement is Enforcement.HARDWARE else software
        rot_list["rootOfTrust"] = _root_of_trust_value(d.root_of_trust)
    if d.creation_time_ms is not None:
        software["creationDateTime"] = d.creation_time_ms
    if d.application_id_present:
        software["attestationApplicationId"] = _application_id_der(d)
    return software, hardware


def _root_of_trust_value(rot: RootOfTrust) -> dict[str, Any]:
    value: dict[str, Any] = {
        "verifiedBootKey": rot.verified_boot_key,
        "deviceLocked": rot.device_locked,
        "verifiedBootState": _boot_state_code(rot.verified_boot_state),
    }
    if rot.verified_boot_hash is not None:
        value["verifiedBootHash"] = rot.verified_boot_hash
    return value


def _application_id_der(d: KeyDescription) -> bytes:
    return bytes(
        AttestationApplicationId(
            {
                "packageInfos": [
                    {"packageName": name.encode("utf-8"), "version": version}
                    for name, version in d.packages
                ],
                "signatureDigests": [bytes.fromhex(h) for h in d.signature_digests],
            }
        ).dump()
    )


def _code_of(table: dict[int, Any]) -> Callable[[Any], int]:
    reverse = {v: k for k, v in table.items()}
    return lambda value: reverse[value]


_level_code = _code_of(_SECURITY_LEVEL_CODES)
_boot_state_code = _code_of(_BOOT_STATE_CODES)


# ---------------------------------------------------------------------------------------------
# Display helpers
# ---------------------------------------------------------------------------------------------


def format_os_version(value: int | None) -> str:
    """140000 -> "14.0.0"; KeyMint writes 0 when the version is not known."""
    if value is None or value <= 0:
        return "unknown"
    return f"{value // 10000}.{value // 100 % 100}.{value % 100}"


def format_patch_level(value: int | None) -> str:
    """202401 -> "2024-01", 20240105 -> "2024-01-05"."""
    if value is None or value <= 0:
        return "unknown"
    text = str(value)
    if len(text) == 6:
        return f"{text[:4]}-{text[4:]}"
    if len(text) == 8:
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text
