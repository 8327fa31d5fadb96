"""Apple App Attest: verify an attestation object once, then an assertion on each request.

What App Attest proves, and what it does not
--------------------------------------------
An accepted attestation proves that the key ``key_id`` was generated inside the Secure Enclave
of genuine Apple hardware, by an instance of *our* app (the App ID ``TEAMID.bundle.id`` is
bound into the key by Apple's App Attest service), and that the key was certified in answer to
the challenge this server issued (no replay of an older attestation). An accepted assertion
proves that a request was signed by that same key, after every earlier accepted assertion
(the counter only goes up).

It does **not** prove that the device is not jailbroken, that the OS is patched, or that the
app's memory was not tampered with at run time: Apple certifies the key and the app identity,
not the state of the device. The server must therefore treat App Attest as "a genuine instance
of our app on genuine Apple hardware" - a strong answer to emulators, re-signed or cloned apps
and scripted clients - and keep judging jailbreak and tampering with the other integrity
signals: an accepted attestation must never turn a SUSPICIOUS or COMPROMISED verdict into
CLEAN on its own.

Attestation (Apple, "Validating apps that connect to your server")
------------------------------------------------------------------
The object is CBOR ``{fmt: "apple-appattest", attStmt: {x5c: [credCert, intermediate],
receipt}, authData}``. ``verify_attestation`` checks, rejecting with a stable code:

1. the size (``too_large``, 64 KiB), the CBOR itself (``malformed``: nesting is bounded, no
   trailing bytes, no duplicate keys) and its shape (``format``);
2. ``authData`` = rpIdHash(32) | flags(1) | signCount(4, big-endian) | aaguid(16) |
   credentialIdLength(2, big-endian) | credentialId | COSE key (``authdata_truncated``);
3. the x5c chain, leaf first and without Apple's root, walked by ``x509chain.verify_chain`` to
   the pinned anchors at ``now`` (x509chain's codes, e.g. ``chain_untrusted``);
4. nonce = SHA-256(authData || SHA-256(challenge)) equals the OCTET STRING of the credential
   certificate's extension 1.2.840.113635.100.8.2, ``SEQUENCE { [1] EXPLICIT OCTET STRING }``
   (``nonce_mismatch``);
5. ``key_id`` = SHA-256 of the credential key as an uncompressed X9.62 P-256 point
   (``key_id_mismatch``), and equals authData's credentialId (``credential_id_mismatch``);
6. rpIdHash = SHA-256 of one of the policy's App IDs (``app_id_unknown``);
7. signCount = 0 (``counter_not_zero``);
8. aaguid = ``b"appattest" + 7 * b"\\0"`` (production) or ``b"appattestdevelop"``
   (development: ``development_environment`` unless the policy allows it); anything else is
   ``aaguid_unknown``.

The COSE key in authData and the receipt are not checked (Apple's steps do not ask for it; the
receipt is kept so that the server can later ask Apple for a fraud-risk metric).

Assertion - what exactly is signed
----------------------------------
The app calls ``generateAssertion(keyId, clientDataHash: SHA-256(clientData))``. The Secure
Enclave computes ``nonce = SHA-256(authenticatorData || clientDataHash)`` and signs ``nonce``
*as the message* of ECDSA with SHA-256 on P-256. So the digest inside the ECDSA signature is
``SHA-256(nonce)`` = SHA-256(SHA-256(authenticatorData || clientDataHash)): the verifier passes
the 32-byte nonce to ``verify(signature, nonce, ECDSA(SHA256()))``, which hashes it once more.
(This differs from WebAuthn, where authenticatorData || clientDataHash is the message.)

``verify_assertion`` also requires the client data to be a JSON object whose ``challenge`` is
the base64url (no padding) of the challenge the server issued, the rpIdHash to be SHA-256 of
the key's App ID, and the counter to be strictly greater than the last accepted one.

Everything here is pure: the anchors, App IDs and the time are parameters. The default anchors
are Apple's App Attestation Root CA, bundled as package data (roots/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

import cbor2
import orjson
from asn1crypto import core as asn1  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openmtd.domain.integrity import AttestationOutcome, EvidenceSource
from openmtd.engines.integrity.roots import apple_app_attest_anchors
from openmtd.engines.integrity.x509chain import (
    ChainError,
    TrustAnchors,
    load_der_chain,
    verify_chain,
)

MAX_ATTESTATION_BYTES: Final = 64 * 1024
MAX_ASSERTION_BYTES: Final = 4 * 1024  # Apple's are about 150 bytes
MAX_CLIENT_DATA_BYTES: Final = 16 * 1024
MAX_CBOR_DEPTH: Final = 8  # attestation: map > map > array > bytes

ATTESTATION_FORMAT: Final = "apple-appattest"
NONCE_EXTENSION_OID: Final = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
AAGUID_PRODUCTION: Final = b"appattest" + b"\x00" * 7
AAGUID_DEVELOPMENT: Final = b"appattestdevelop"
PRODUCTION: Final = "production"
DEVELOPMENT: Final = "development"

_RP_ID_HASH_END: Final = 32
_FLAGS_END: Final = 33
_COUNTER_END: Final = 37
_AAGUID_END: Final = 53
_CREDENTIAL_ID_LENGTH_END: Final = 55


@dataclass(frozen=True, slots=True, kw_only=True)
class AppAttestPolicy:
    """What this server accepts: anchors (Apple's root unless a test passes its own CA), the
    App IDs ("TEAMID.bundle.id") of our apps, and whether development keys are allowed."""

    anchors: TrustAnchors = field(default_factory=apple_app_attest_anchors)
    app_ids: frozenset[str]
    allow_development: bool = False


@dataclass(frozen=True, slots=True)
class AttestedKey:
    """A key whose attestation was accepted: what the server stores to verify assertions."""

    key_id: bytes  # 32 bytes, SHA-256 of the uncompressed P-256 point
    public_key_der: bytes  # SubjectPublicKeyInfo DER
    app_id: str
    environment: str  # "production" | "development"
    counter: int  # 0 after attestation, then the last accepted assertion's counter
    receipt: bytes


class _Rejected(Exception):
    """Internal: stops a check with a stable code and a precise reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _reject(code: str, reason: str) -> NoReturn:
    raise _Rejected(code, reason)


def _rejection(code: str, reason: str) -> AttestationOutcome:
    return AttestationOutcome(EvidenceSource.APP_ATTEST, False, code, reason)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _utc(now: datetime) -> datetime:
    """A naive time is taken as UTC, so that comparing it with certificate dates cannot fail."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now


# --- CBOR ---------------------------------------------------------------------------------


def _require_bytes(**values: object) -> None:
    """Callers are typed, but a str or an int slipping through must not become an exception
    (or, through bytes(n), a huge allocation)."""
    for name, value in values.items():
        if not isinstance(value, bytes):
            _reject("malformed", f"{name} must be bytes, not {type(value).__name__}")


def _decode_cbor(data: bytes, what: str, limit: int) -> Any:
    if len(data) > limit:
        _reject("too_large", f"the {what} is {len(data)} bytes; at most {limit} are accepted")
    if not data:
        _reject("malformed", f"the {what} is empty")
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream,
            max_depth=MAX_CBOR_DEPTH,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
        )
        value = decoder.decode()
    except Exception as e:  # noqa: BLE001 - a foreign decoder on hostile bytes: any failure
        _reject("malformed", f"the {what} is not valid CBOR: {type(e).__name__}: {e}"[:300])
    trailing = len(data) - stream.tell()
    if trailing:
        _reject("malformed", f"the {what} has {trailing} bytes after its CBOR item")
    return value


def _field(mapping: Mapping[Any, Any], key: str, kind: type, where: str) -> Any:
    if key not in mapping:
        _reject("format", f"{where} has no {key!r}")
    value = mapping[key]
    if not isinstance(value, kind):
        _reject("format", f"{where}[{key!r}] must be {kind.__name__}, not {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class _AttestationObject:
    x5c: tuple[bytes, ...]
    receipt: bytes
    auth_data: bytes


def _attestation_object(value: Any) -> _AttestationObject:
    if not isinstance(value, dict):
        _reject("format", f"the attestation is a CBOR {type(value).__name__}, not a map")
    fmt = _field(value, "fmt", str, "the attestation")
    if fmt != ATTESTATION_FORMAT:
        _reject("format", f"the attestation format is {fmt[:40]!r}, not {ATTESTATION_FORMAT!r}")
    statement = _field(value, "attStmt", dict, "the attestation")
    x5c = _field(statement, "x5c", list, "attStmt")
    for i, der in enumerate(x5c):
        if not isinstance(der, bytes):
            _reject("format", f"attStmt['x5c'][{i}] is {type(der).__name__}, not bytes")
    receipt = _field(statement, "receipt", bytes, "attStmt")
    auth_data = _field(value, "authData", bytes, "the attestation")
    return _AttestationObject(tuple(x5c), receipt, auth_data)


# --- authenticator data ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AuthData:
    rp_id_hash: bytes
    flags: int
    counter: int
    aaguid: bytes
    credential_id: bytes


def _need(data: bytes, end: int, part: str) -> None:
    if len(data) < end:
        _reject(
            "authdata_truncated",
            f"the authenticator data is {len(data)} bytes, too short for its {part} (needs {end})",
        )


def _parse_attestation_auth_data(data: bytes) -> _AuthData:
    _need(data, _COUNTER_END, "rpIdHash, flags and signCount")
    _need(data, _CREDENTIAL_ID_LENGTH_END, "aaguid and credentialId length")
    length = int.from_bytes(data[_AAGUID_END:_CREDENTIAL_ID_LENGTH_END], "big")
    _need(data, _CREDENTIAL_ID_LENGTH_END + length, f"{length}-byte credentialId")
    return _AuthData(
        rp_id_hash=data[:_RP_ID_HASH_END],
        flags=data[_RP_ID_HASH_END],
        counter=int.from_bytes(data[_FLAGS_END:_COUNTER_END], "big"),
        aaguid=data[_COUNTER_END:_AAGUID_END],
        credential_id=data[_CREDENTIAL_ID_LENGTH_END : _CREDENTIAL_ID_LENGTH_END + length],
    )


# --- the credential certificate ---------------------------------------------------------------


class _NonceExtension(asn1.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    """Apple's extension 1.2.840.113635.100.8.2: SEQUENCE { [1] EXPLICIT OCTET STRING }."""

    _fields = [("nonce", asn1.OctetString, {"explicit": 1})]


def _certified_nonce(cert: x509.Certificate) -> bytes:
    try:
        extension = cert.extensions.get_extension_for_oid(NONCE_EXTENSION_OID)
    except x509.ExtensionNotFound:
        _reject(
            "nonce_mismatch",
            "the credential certificate has no nonce extension "
            f"{NONCE_EXTENSION_OID.dotted_string}",
        )
    except Exception as e:  # noqa: BLE001 - cryptography parsing hostile extensions
        _reject("nonce_mismatch", f"the credential certificate's extensions do not parse: {e}")
    raw = extension.value
    der = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
    try:
        parsed = _NonceExtension.load(der, strict=True)
        nonce = parsed["nonce"].native
    except Exception as e:  # noqa: BLE001 - asn1crypto on hostile DER raises several types
        _reject(
            "nonce_mismatch",
            "the nonce extension is not SEQUENCE { [1] EXPLICIT OCTET STRING }: "
            f"{type(e).__name__}: {e}"[:300],
        )
    if not isinstance(nonce, bytes):
        _reject("nonce_mismatch", "the nonce extension holds no octet string")
    return nonce


def _credential_point(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """The credential key as (uncompressed X9.62 point, SubjectPublicKeyInfo DER)."""
    try:
        key = cert.public_key()
    except Exception as e:  # noqa: BLE001 - unsupported or invalid key material
        _reject("key_id_mismatch", f"the credential certificate's key does not load: {e}")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        _reject(
            "key_id_mismatch",
            f"the credential key is {type(key).__name__}, not an EC P-256 key, so it cannot be "
            "an App Attest key",
        )
    if not isinstance(key.curve, ec.SECP256R1):
        _reject(
            "key_id_mismatch",
            f"the credential key is on curve {key.curve.name}, not an EC P-256 key, so it cannot "
            "be an App Attest key",
        )
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return point, spki


def _verified_chain(
    x5c: Sequence[bytes], anchors: TrustAnchors, now: datetime
) -> tuple[list[x509.Certificate], x509.Certificate]:
    try:
        chain = load_der_chain(x5c)
        anchor = verify_chain(chain, anchors, now)
    except ChainError as e:
        _reject(e.code, e.reason)
    except Exception as e:  # noqa: BLE001 - a certificate whose key cannot be loaded
        _reject("certificate_malformed", f"a certificate in x5c cannot be used: {e}"[:300])
    return chain, anchor


# --- attestation ------------------------------------------------------------------------------


def _matched_app_id(rp_id_hash: bytes, app_ids: frozenset[str]) -> str:
    for app_id in sorted(app_ids):
        if hmac.compare_digest(_sha256(app_id.encode()), rp_id_hash):
            return app_id
    _reject(
        "app_id_unknown",
        f"the rpIdHash {rp_id_hash.hex()} is not SHA-256 of any of the {len(app_ids)} "
        f"accepted App IDs ({', '.join(sorted(app_ids)) or 'none configured'})",
    )


def _environment(aaguid: bytes, allow_development: bool) -> str:
    if aaguid == AAGUID_PRODUCTION:
        return PRODUCTION
    if aaguid == AAGUID_DEVELOPMENT:
        if not allow_development:
            _reject(
                "development_environment",
                "the key was attested in Apple's development environment (aaguid "
                "'appattestdevelop'), which this policy does not accept",
            )
        return DEVELOPMENT
    _reject(
        "aaguid_unknown",
        f"the aaguid {aaguid.hex()} is neither 'appattest' + 7 zero bytes (production) nor "
        "'appattestdevelop' (development)",
    )


def _check_attestation(
    attestation: bytes, key_id: bytes, challenge: bytes, policy: AppAttestPolicy, now: datetime
) -> tuple[AttestationOutcome, AttestedKey]:
    _require_bytes(attestation=attestation, key_id=key_id, challenge=challenge)
    obj = _attestation_object(_decode_cbor(attestation, "attestation", MAX_ATTESTATION_BYTES))
    auth = _parse_attestation_auth_data(obj.auth_data)
    chain, anchor = _verified_chain(obj.x5c, policy.anchors, _utc(now))
    credential_cert = chain[0]

    nonce = _sha256(obj.auth_data + _sha256(challenge))
    certified = _certified_nonce(credential_cert)
    if not hmac.compare_digest(certified, nonce):
        _reject(
            "nonce_mismatch",
            f"the credential certificate certifies nonce {certified.hex()[:64]}, but "
            f"SHA-256(authData || SHA-256(challenge)) is {nonce.hex()}: wrong challenge or "
            "altered authData",
        )
    point, spki = _credential_point(credential_cert)
    expected_key_id = _sha256(point)
    if not hmac.compare_digest(expected_key_id, key_id):
        _reject(
            "key_id_mismatch",
            f"the key id {key_id.hex()[:64]} is not SHA-256 of the credential key "
            f"({expected_key_id.hex()})",
        )
    if not hmac.compare_digest(auth.credential_id, expected_key_id):
        _reject(
            "credential_id_mismatch",
            f"authData's credentialId {auth.credential_id.hex()[:64]} is not the key id "
            f"{expected_key_id.hex()}",
        )
    app_id = _matched_app_id(auth.rp_id_hash, policy.app_ids)
    if auth.counter != 0:
        _reject(
            "counter_not_zero",
            f"authData's signCount is {auth.counter}; a fresh attestation has 0",
        )
    environment = _environment(auth.aaguid, policy.allow_development)

    key = AttestedKey(expected_key_id, spki, app_id, environment, 0, obj.receipt)
    facts = (
        ("app_id", app_id),
        ("environment", environment),
        ("key_id", expected_key_id.hex()),
        ("anchor", anchor.subject.rfc4514_string()),
        ("certificate_serials", ",".join(format(c.serial_number, "x") for c in chain)),
        ("receipt_bytes", str(len(obj.receipt))),
    )
    outcome = AttestationOutcome(
        EvidenceSource.APP_ATTEST,
        True,
        "ok",
        f"a genuine instance of {app_id} on Apple hardware attested key {expected_key_id.hex()}"
        f" ({environment})",
        facts=facts,
    )
    return outcome, key


def verify_attestation(
    attestation: bytes,
    *,
    key_id: bytes,
    challenge: bytes,
    policy: AppAttestPolicy,
    now: datetime,
) -> tuple[AttestationOutcome, AttestedKey | None]:
    """Check an App Attest attestation object; the key to store when accepted. Never raises."""
    try:
        return _check_attestation(attestation, key_id, challenge, policy, now)
    except _Rejected as e:
        return _rejection(e.code, e.reason), None


# --- assertion --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check_client_data(client_data: bytes, challenge: bytes) -> None:
    if not isinstance(client_data, bytes):
        _reject("client_data_malformed", "the client data must be bytes")
    if len(client_data) > MAX_CLIENT_DATA_BYTES:
        _reject(
            "client_data_malformed",
            f"the client data is {len(client_data)} bytes; at most {MAX_CLIENT_DATA_BYTES} "
            "are accepted",
        )
    try:
        parsed = orjson.loads(client_data)
    except orjson.JSONDecodeError as e:
        _reject("client_data_malformed", f"the client data is not JSON: {e}"[:300])
    if not isinstance(parsed, dict):
        _reject(
            "client_data_malformed",
            f"the client data is a JSON {type(parsed).__name__}, not an object",
        )
    embedded = parsed.get("challenge")
    if not isinstance(embedded, str):
        _reject("challenge_mismatch", "the client data has no string 'challenge'")
    expected = _b64url(challenge)
    if not hmac.compare_digest(embedded.encode("utf-8", "replace"), expected.encode()):
        _reject(
            "challenge_mismatch",
            f"the client data's challenge {embedded[:64]!r} is not the issued one "
            f"({expected!r}, base64url without padding)",
        )


def _assertion_parts(assertion: bytes) -> tuple[bytes, bytes]:
    value = _decode_cbor(assertion, "assertion", MAX_ASSERTION_BYTES)
    if not isinstance(value, dict):
        _reject("format", f"the assertion is a CBOR {type(value).__name__}, not a map")
    signature = _field(value, "signature", bytes, "the assertion")
    authenticator_data = _field(value, "authenticatorData", bytes, "the assertion")
    return signature, authenticator_data


def _verify_signature(signature: bytes, nonce: bytes, public_key_der: bytes) -> None:
    try:
        key = serialization.load_der_public_key(public_key_der)
    except Exception as e:  # noqa: BLE001 - stored key material that does not load
        _reject("key_unusable", f"the stored public key does not load: {e}"[:300])
    if not isinstance(key, ec.EllipticCurvePublicKey):
        _reject("key_unusable", f"the stored key is {type(key).__name__}, not an EC key")
    try:
        key.verify(signature, nonce, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        _reject(
            "signature_invalid",
            "the signature does not verify over SHA-256(authenticatorData || "
            "SHA-256(clientData)) with the attested key",
        )
    except ValueError as e:  # not a DER ECDSA signature
        _reject("signature_invalid", f"the signature is not a DER ECDSA signature: {e}"[:300])


def _check_assertion(
    assertion: bytes, client_data: bytes, challenge: bytes, key: AttestedKey
) -> tuple[AttestationOutcome, int]:
    _require_bytes(assertion=assertion, challenge=challenge)
    _check_client_data(client_data, challenge)
    signature, authenticator_data = _assertion_parts(assertion)
    _need(authenticator_data, _COUNTER_END, "rpIdHash, flags and counter")
    nonce = _sha256(authenticator_data + _sha256(client_data))
    _verify_signature(signature, nonce, key.public_key_der)
    rp_id_hash = authenticator_data[:_RP_ID_HASH_END]
    if not hmac.compare_digest(rp_id_hash, _sha256(key.app_id.encode())):
        _reject(
            "rp_id_mismatch",
            f"the rpIdHash {rp_id_hash.hex()} is not SHA-256 of the key's App ID {key.app_id}",
        )
    counter = int.from_bytes(authenticator_data[_FLAGS_END:_COUNTER_END], "big")
    if counter <= key.counter:
        _reject(
            "counter_not_increasing",
            f"the assertion's counter is {counter} but the last accepted one is {key.counter}: "
            "a replayed or forged assertion",
        )
    facts = (
        ("app_id", key.app_id),
        ("environment", key.environment),
        ("key_id", key.key_id.hex()),
        ("counter", str(counter)),
        ("previous_counter", str(key.counter)),
    )
    outcome = AttestationOutcome(
        EvidenceSource.APP_ATTEST,
        True,
        "ok",
        f"request signed by attested key {key.key_id.hex()} of {key.app_id}, counter {counter}",
        facts=facts,
    )
    return outcome, counter


def verify_assertion(
    assertion: bytes,
    *,
    client_data: bytes,
    challenge: bytes,
    key: AttestedKey,
    now: datetime | None = None,
) -> tuple[AttestationOutcome, int | None]:
    """Check an App Attest assertion over ``client_data``; the new counter when accepted.

    The caller stores the returned counter (compare-and-swap) before trusting the request.
    ``now`` is accepted for symmetry with ``verify_attestation``: an assertion carries no time.
    Never raises.
    """
    del now  # an assertion has no certificate or timestamp to check against a time
    try:
        return _check_assertion(assertion, client_data, challenge, key)
    except _Rejected as e:
        return _rejection(e.code, e.reason), None
