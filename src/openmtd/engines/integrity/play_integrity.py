"""Google Play Integrity: decrypt, verify and judge integrity verdicts.

The app asks Google Play for an integrity token bound to a challenge from our server and sends
it to us. The token is a nested JWT: a JWE in compact form (key wrapping ``A256KW``, content
encryption ``A256GCM``) whose plaintext is a JWS in compact form (``ES256``) whose payload is
the verdict JSON. With Google-managed keys the server sends the token to Google's
``decodeIntegrityToken`` API and gets the verdict JSON back (judge it with `judge_verdict`);
with self-managed keys, downloaded once from the Play Console (a base64 AES-256 decryption key
and a base64 DER EC P-256 verification key), the server decrypts and verifies it here
(`decode_token`, or `verify_play_integrity` for the whole check).

Before any verdict counts, it must be bound to this request: the challenge (base64url without
padding) must be the verdict's ``requestHash`` (standard API) or ``nonce`` (classic API), the
request must be for our package, and it must be fresh (at most ``max_age`` old, at most one
minute in the future). A verdict that fails any of these is rejected (``accepted`` False)
with a stable code; an accepted verdict carries findings for what it says about the device
and the app.

Findings (source PLAY_INTEGRITY):

=============================================  ======  ==========  =============================
rule id                                        weight  conclusive  when
=============================================  ======  ==========  =============================
play_integrity.no_integrity                    100     yes         no device label at all
play_integrity.basic_integrity_only            80      yes         BASIC without DEVICE
play_integrity.virtual_device                  50      no          VIRTUAL without DEVICE
play_integrity.strong_integrity_missing        40      no          no STRONG, policy wants it
play_integrity.app_unrecognized                80      no          UNRECOGNIZED_VERSION
play_integrity.app_unevaluated                 20      no          app verdict UNEVALUATED
play_integrity.certificate_unknown             80      no          signer not in the policy
play_integrity.app_package_mismatch            80      no          appIntegrity for another app
play_integrity.play_protect_high_risk          50      no          Play Protect HIGH_RISK
play_integrity.play_protect_medium_risk        30      no          Play Protect MEDIUM_RISK
play_integrity.play_protect_possible_risk      10      no          Play Protect off (POSSIBLE_RISK)
=============================================  ======  ==========  =============================
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from openmtd.domain.enums import Platform
from openmtd.domain.integrity import AttestationOutcome, EvidenceSource, IntegrityFinding

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_TOKEN_CHARS",
    "PlayIntegrityKeys",
    "PlayIntegrityPolicy",
    "PlayTokenError",
    "decode_token",
    "judge_verdict",
    "normalize_certificate_digest",
    "verify_play_integrity",
]

MAX_TOKEN_CHARS = 32 * 1024
MAX_PAYLOAD_BYTES = 64 * 1024
#: How far in the future a verdict's timestamp may be (clock skew between Google and us).
MAX_CLOCK_SKEW = timedelta(minutes=1)
#: Fact values are cut to this length.
MAX_FACT_CHARS = 200

MEETS_BASIC = "MEETS_BASIC_INTEGRITY"
MEETS_DEVICE = "MEETS_DEVICE_INTEGRITY"
MEETS_STRONG = "MEETS_STRONG_INTEGRITY"
MEETS_VIRTUAL = "MEETS_VIRTUAL_INTEGRITY"
_KNOWN_LABELS = (MEETS_BASIC, MEETS_DEVICE, MEETS_STRONG, MEETS_VIRTUAL)

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class PlayTokenError(Exception):
    """The token cannot be read or trusted; ``code`` is stable, ``reason`` says exactly why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Keys and policy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayIntegrityKeys:
    """The self-managed response encryption keys from the Play Console."""

    decryption_key: bytes = field(repr=False)  # AES-256, wraps each token's content key
    verification_key: ec.EllipticCurvePublicKey  # P-256, checks Google's ES256 signature

    @classmethod
    def from_base64(cls, decryption_key_b64: str, verification_key_b64: str) -> PlayIntegrityKeys:
        """The keys as the Play Console hands them out; ValueError says what is wrong."""
        decryption_key = _decode_config_base64(decryption_key_b64, "decryption key")
        if len(decryption_key) != 32:
            raise ValueError(f"the decryption key is {len(decryption_key)} bytes; AES-256 needs 32")
        der = _decode_config_base64(verification_key_b64, "verification key")
        try:
            public_key = serialization.load_der_public_key(der)
        except ValueError as e:
            raise ValueError(f"the verification key is not a DER public key: {e}") from None
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            raise ValueError("the verification key is not an EC P-256 public key")
        return cls(decryption_key, public_key)


def _decode_config_base64(text: str, what: str) -> bytes:
    compact = "".join(text.split())
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"the {what} is not base64: {e}") from None


def normalize_certificate_digest(digest: str) -> str:
    """A signing certificate's SHA-256 as Google reports it: base64url without padding.

    Accepts that form, padded or standard base64, and hex (with or without colons, any case).
    ValueError when `digest` is none of these or not 32 bytes.
    """
    text = digest.strip()
    if _HEX_DIGEST.fullmatch(text.replace(":", "")):
        raw = bytes.fromhex(text.replace(":", ""))
    else:
        unpadded = text.rstrip("=").replace("+", "-").replace("/", "_")
        if not _B64URL.fullmatch(unpadded) or len(unpadded) % 4 == 1:
            raise ValueError(f"not a hex or base64 SHA-256 digest: {digest[:80]!r}")
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    if len(raw) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, this one is {len(raw)}")
    return _b64url(raw)


@dataclass(frozen=True, slots=True)
class PlayIntegrityPolicy:
    """What a verdict must match: our app, its signers, and how fresh it must be.

    ``certificate_sha256`` lists the app's signing certificates (any form that
    `normalize_certificate_digest` accepts; stored normalised). When it is empty the signer is
    not checked.
    """

    package_name: str
    certificate_sha256: frozenset[str] = frozenset()
    max_age: timedelta = timedelta(minutes=5)
    require_strong: bool = False

    def __post_init__(self) -> None:
        normalised = frozenset(normalize_certificate_digest(d) for d in self.certificate_sha256)
        object.__setattr__(self, "certificate_sha256", normalised)


# --------------------------------------------------------------------------------------------
# Token decoding (self-managed keys)
# --------------------------------------------------------------------------------------------


def decode_token(token: str, keys: PlayIntegrityKeys) -> dict[str, Any]:
    """Decrypt and verify `token`; the verdict JSON object, or PlayTokenError(code, reason).

    Codes: ``token_too_large``, ``token_malformed``, ``unsupported_algorithm``,
    ``decryption_failed``, ``signature_invalid``, ``payload_too_large``, ``payload_malformed``.
    """
    if not isinstance(token, str):
        raise PlayTokenError("token_malformed", "the token is not a string")
    if len(token) > MAX_TOKEN_CHARS:
        raise PlayTokenError(
            "token_too_large",
            f"the token is {len(token)} characters; at most {MAX_TOKEN_CHARS} are accepted",
        )
    jws = _decrypt_jwe(token.strip(), keys.decryption_key)
    payload = _verify_jws(jws, keys.verification_key)
    return _parse_payload(payload)


def _decrypt_jwe(token: str, kek: bytes) -> str:
    parts = token.split(".")
    if len(parts) != 5:
        raise PlayTokenError(
            "token_malformed",
            f"a JWE in compact form has 5 dot-separated parts, this token has {len(parts)}",
        )
    header_b64, wrapped_b64, iv_b64, ciphertext_b64, tag_b64 = parts
    header = _header(header_b64, "JWE")
    if header.get("alg") != "A256KW" or header.get("enc") != "A256GCM":
        raise PlayTokenError(
            "unsupported_algorithm",
            f"the JWE uses alg {_shown(header.get('alg'))} and enc {_shown(header.get('enc'))}; "
            "Play Integrity tokens use A256KW and A256GCM",
        )
    _refuse_extensions(header, "JWE")
    wrapped = _b64url_decode(wrapped_b64, "JWE encrypted key")
    iv = _b64url_decode(iv_b64, "JWE initialization vector")
    ciphertext = _b64url_decode(ciphertext_b64, "JWE ciphertext")
    tag = _b64url_decode(tag_b64, "JWE authentication tag")
    if len(wrapped) != 40 or len(iv) != 12 or len(tag) != 16:
        raise PlayTokenError(
            "token_malformed",
            f"the JWE has a {len(wrapped)}-byte wrapped key, a {len(iv)}-byte IV and a "
            f"{len(tag)}-byte tag; A256KW/A256GCM need 40, 12 and 16",
        )
    try:
        content_key = aes_key_unwrap(kek, wrapped)
        plaintext = AESGCM(content_key).decrypt(iv, ciphertext + tag, header_b64.encode("ascii"))
    except InvalidUnwrap:
        raise PlayTokenError(
            "decryption_failed",
            "the content key does not unwrap with the configured decryption key (wrong key "
            "or tampered token)",
        ) from None
    except InvalidTag:
        raise PlayTokenError(
            "decryption_failed",
            "the AES-GCM tag does not verify: the ciphertext, IV or header was tampered with",
        ) from None
    try:
        return plaintext.decode("ascii")
    except UnicodeDecodeError:
        raise PlayTokenError("token_malformed", "the decrypted JWS is not ASCII") from None


def _verify_jws(jws: str, public_key: ec.EllipticCurvePublicKey) -> bytes:
    parts = jws.split(".")
    if len(parts) != 3:
        raise PlayTokenError(
            "token_malformed",
            f"a JWS in compact form has 3 dot-separated parts, the decrypted one has {len(parts)}",
        )
    header_b64, payload_b64, signature_b64 = parts
    header = _header(header_b64, "JWS")
    if header.get("alg") != "ES256":
        raise PlayTokenError(
            "unsupported_algorithm",
            f"the JWS uses alg {_shown(header.get('alg'))}; Play Integrity tokens use ES256",
        )
    _refuse_extensions(header, "JWS")
    signature = _b64url_decode(signature_b64, "JWS signature")
    if len(signature) != 64:
        raise PlayTokenError(
            "signature_invalid",
            f"an ES256 signature is 64 bytes (r || s), this one is {len(signature)}",
        )
    der_signature = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    signed = f"{header_b64}.{payload_b64}".encode("ascii")
    try:
        public_key.verify(der_signature, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PlayTokenError(
            "signature_invalid",
            "the ES256 signature does not verify with the configured verification key",
        ) from None
    return _b64url_decode(payload_b64, "JWS payload")


def _parse_payload(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PlayTokenError(
            "payload_too_large",
            f"the payload is {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES} are accepted",
        )
    document = _json(payload, "payload_malformed", "the payload")
    if not isinstance(document, dict):
        raise PlayTokenError("payload_malformed", "the payload is JSON but not an object")
    return document


def _header(header_b64: str, what: str) -> dict[str, Any]:
    raw = _b64url_decode(header_b64, f"{what} header")
    if len(raw) > 1024:
        raise PlayTokenError("token_malformed", f"the {what} header is over 1024 bytes")
    header = _json(raw, "token_malformed", f"the {what} header")
    if not isinstance(header, dict):
        raise PlayTokenError("token_malformed", f"the {what} header is not a JSON object")
    return header


def _refuse_extensions(header: Mapping[str, Any], what: str) -> None:
    """Compression and critical extensions are never part of a Play Integrity token."""
    present = [name for name in ("zip", "crit") if name in header]
    if present:
        raise PlayTokenError(
            "unsupported_algorithm",
            f"the {what} header sets {', '.join(present)}, which Play Integrity never uses",
        )


def _json(raw: bytes, code: str, what: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlayTokenError(code, f"{what} is not UTF-8") from None
    except (ValueError, RecursionError) as e:
        raise PlayTokenError(code, f"{what} is not JSON: {str(e)[:120]}") from None


def _b64url_decode(text: str, what: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise PlayTokenError("token_malformed", f"the {what} is not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _shown(value: object) -> str:
    return repr(value)[:40]


# --------------------------------------------------------------------------------------------
# Judging a verdict
# --------------------------------------------------------------------------------------------


def verify_play_integrity(
    token: str,
    *,
    keys: PlayIntegrityKeys,
    challenge: bytes,
    policy: PlayIntegrityPolicy,
    now: datetime,
) -> AttestationOutcome:
    """Decrypt, verify and judge `token` (self-managed keys). Never raises."""
    try:
        payload = decode_token(token, keys)
    except PlayTokenError as e:
        return _rejected(e.code, e.reason)
    return judge_verdict(payload, challenge=challenge, policy=policy, now=now)


def judge_verdict(
    payload: Mapping[str, Any],
    *,
    challenge: bytes,
    policy: PlayIntegrityPolicy,
    now: datetime,
) -> AttestationOutcome:
    """Check that a decoded verdict is bound to this request and judge it. Never raises.

    For verdicts decoded by `decode_token` or by Google's ``decodeIntegrityToken`` API.
    Rejection codes: ``payload_malformed``, ``challenge_mismatch``, ``package_mismatch``,
    ``stale``.
    """
    if not isinstance(payload, Mapping):
        return _rejected("payload_malformed", "the verdict is not a JSON object")
    request = payload.get("requestDetails")
    if not isinstance(request, Mapping):
        return _rejected("payload_malformed", "the verdict has no requestDetails object")
    binding = _binding_problem(request, challenge, policy, _aware(now))
    if binding is not None:
        return _rejected(*binding)
    timestamp_ms = _millis(request.get("timestampMillis"))
    assert timestamp_ms is not None  # _binding_problem checked it
    app = _mapping(payload.get("appIntegrity"))
    device = _mapping(payload.get("deviceIntegrity"))
    environment = _mapping(payload.get("environmentDetails"))
    labels = _labels(device)
    findings = (
        *_device_findings(labels, policy),
        *_app_findings(app, policy),
        *_play_protect_findings(environment),
    )
    facts = _facts(payload, labels, timestamp_ms)
    shown = ", ".join(label for label in labels if label in _KNOWN_LABELS) or "no label"
    return AttestationOutcome(
        source=EvidenceSource.PLAY_INTEGRITY,
        accepted=True,
        code="ok",
        reason=f"Play Integrity verdict bound to this request; device: {shown}",
        findings=findings,
        facts=facts,
    )


def _rejected(code: str, reason: str) -> AttestationOutcome:
    return AttestationOutcome(EvidenceSource.PLAY_INTEGRITY, False, code, reason)


def _aware(now: datetime) -> datetime:
    """`now` with a time zone; a naive datetime is taken as UTC."""
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _binding_problem(
    request: Mapping[str, Any], challenge: bytes, policy: PlayIntegrityPolicy, now: datetime
) -> tuple[str, str] | None:
    """Why the verdict is not bound to this request, or None."""
    if not isinstance(challenge, bytes | bytearray) or not challenge:
        return "challenge_mismatch", "the server's challenge is empty or not bytes"
    expected = _b64url(challenge)
    bound = request.get("requestHash", request.get("nonce"))
    if not isinstance(bound, str):
        return "challenge_mismatch", "the verdict carries neither requestHash nor nonce"
    if not hmac.compare_digest(bound.rstrip("=").encode(), expected.encode()):
        return "challenge_mismatch", "the verdict's requestHash/nonce is not this challenge"
    package = request.get("requestPackageName")
    if package != policy.package_name:
        return (
            "package_mismatch",
            f"the verdict was requested for {_shown(package)}, not {policy.package_name!r}",
        )
    timestamp_ms = _millis(request.get("timestampMillis"))
    if timestamp_ms is None:
        return "payload_malformed", "requestDetails.timestampMillis is missing or not a number"
    now_ms = int(now.timestamp() * 1000)
    age_ms = now_ms - timestamp_ms
    if age_ms > policy.max_age / timedelta(milliseconds=1):
        return (
            "stale",
            f"the verdict is {_duration(age_ms)} old; at most "
            f"{_duration(int(policy.max_age / timedelta(milliseconds=1)))} is accepted",
        )
    if -age_ms > MAX_CLOCK_SKEW / timedelta(milliseconds=1):
        return "stale", f"the verdict is dated {_duration(-age_ms)} in the future"
    return None


def _millis(value: object) -> int | None:
    """A millisecond timestamp from an int or a decimal string (Google sends strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,16}", value):
        return int(value)
    return None


def _duration(millis: int) -> str:
    seconds = abs(millis) / 1000
    if seconds >= 86400 * 365 * 100:
        return "over a century"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _labels(device: Mapping[str, Any]) -> tuple[str, ...]:
    raw = device.get("deviceRecognitionVerdict")
    if not isinstance(raw, list):
        return ()
    return tuple(dict.fromkeys(label for label in raw[:16] if isinstance(label, str)))


def _finding(
    rule_id: str,
    weight: int,
    title: str,
    explanation: str,
    evidence: tuple[tuple[str, str], ...],
    conclusive: bool = False,
) -> IntegrityFinding:
    return IntegrityFinding(
        rule_id=rule_id,
        source=EvidenceSource.PLAY_INTEGRITY,
        weight=weight,
        title=title,
        explanation=explanation,
        evidence=evidence,
        platform=Platform.ANDROID,
        conclusive=conclusive,
    )


def _device_findings(
    labels: Sequence[str], policy: PlayIntegrityPolicy
) -> tuple[IntegrityFinding, ...]:
    known = [label for label in labels if label in _KNOWN_LABELS]
    evidence = (("deviceRecognitionVerdict", ",".join(known) or "none"),)
    findings: list[IntegrityFinding] = []
    if not known:
        findings.append(
            _finding(
                "play_integrity.no_integrity",
                100,
                "Fails Play basic integrity",
                "Google Play could not vouch even for basic integrity: the device is rooted, "
                "tampered with, or the app runs in a hooked or emulated environment.",
                evidence,
                conclusive=True,
            )
        )
    elif MEETS_DEVICE not in known and MEETS_VIRTUAL in known:
        findings.append(
            _finding(
                "play_integrity.virtual_device",
                50,
                "Play-recognised emulator",
                "The app runs on an Android emulator with Google Play services, not on a phone.",
                evidence,
            )
        )
    elif MEETS_DEVICE not in known and MEETS_BASIC in known:
        findings.append(
            _finding(
                "play_integrity.basic_integrity_only",
                80,
                "Meets only Play basic integrity",
                "Google Play vouches for basic integrity only: the device may be rooted, have "
                "an unlocked bootloader or run an uncertified OS.",
                evidence,
                conclusive=True,
            )
        )
    if policy.require_strong and MEETS_STRONG not in known:
        findings.append(
            _finding(
                "play_integrity.strong_integrity_missing",
                40,
                "No hardware-backed Play strong integrity",
                "The policy requires strong integrity (hardware-backed proof of a locked, "
                "recently patched device) and the verdict does not carry it.",
                evidence,
            )
        )
    return tuple(findings)


def _app_findings(
    app: Mapping[str, Any], policy: PlayIntegrityPolicy
) -> tuple[IntegrityFinding, ...]:
    findings: list[IntegrityFinding] = []
    verdict = app.get("appRecognitionVerdict")
    if verdict == "UNRECOGNIZED_VERSION":
        findings.append(
            _finding(
                "play_integrity.app_unrecognized",
                80,
                "App binary not recognised by Google Play",
                "The app calling us is not a version Google Play distributed: it was modified "
                "or re-signed, or sideloaded from elsewhere.",
                (("appRecognitionVerdict", "UNRECOGNIZED_VERSION"),),
            )
        )
    elif verdict == "UNEVALUATED":
        findings.append(
            _finding(
                "play_integrity.app_unevaluated",
                20,
                "App integrity not evaluated",
                "Google Play did not evaluate the app (a requirement such as device integrity "
                "was not met), so nothing vouches for the app binary.",
                (("appRecognitionVerdict", "UNEVALUATED"),),
            )
        )
    package = app.get("packageName")
    if isinstance(package, str) and package != policy.package_name:
        findings.append(
            _finding(
                "play_integrity.app_package_mismatch",
                80,
                "Verdict is for another app",
                f"Google Play evaluated {_shown(package)}, not {policy.package_name!r}.",
                (("packageName", _fact(package)),),
            )
        )
    certificate = _certificate_finding(app.get("certificateSha256Digest"), policy)
    if certificate is not None:
        findings.append(certificate)
    return tuple(findings)


def _certificate_finding(raw: object, policy: PlayIntegrityPolicy) -> IntegrityFinding | None:
    if not policy.certificate_sha256 or not isinstance(raw, list):
        return None
    reported = [d for d in raw[:16] if isinstance(d, str)]
    if any(_normalized_or_none(d) in policy.certificate_sha256 for d in reported):
        return None
    return _finding(
        "play_integrity.certificate_unknown",
        80,
        "App signed by an unknown certificate",
        "None of the app's signing certificates is one the policy lists: the app was re-signed "
        "by someone else.",
        tuple(("certificateSha256Digest", _fact(d)) for d in reported) or (("certificate", ""),),
    )


def _normalized_or_none(digest: str) -> str | None:
    try:
        return normalize_certificate_digest(digest[:200])
    except ValueError:
        return None


_PLAY_PROTECT_RISKS: Mapping[str, tuple[str, int, str]] = {
    "HIGH_RISK": (
        "play_integrity.play_protect_high_risk",
        50,
        "Play Protect found dangerous apps, or is off and the device is at high risk.",
    ),
    "MEDIUM_RISK": (
        "play_integrity.play_protect_medium_risk",
        30,
        "Play Protect found potentially harmful apps, or is off with apps from unknown "
        "sources installed.",
    ),
    "POSSIBLE_RISK": (
        "play_integrity.play_protect_possible_risk",
        10,
        "Play Protect is turned off.",
    ),
}


def _play_protect_findings(environment: Mapping[str, Any]) -> tuple[IntegrityFinding, ...]:
    verdict = environment.get("playProtectVerdict")
    if not isinstance(verdict, str) or verdict not in _PLAY_PROTECT_RISKS:
        return ()
    rule_id, weight, explanation = _PLAY_PROTECT_RISKS[verdict]
    title = f"Play Protect: {verdict.replace('_', ' ').lower()}"
    return (_finding(rule_id, weight, title, explanation, (("playProtectVerdict", verdict),)),)


def _facts(
    payload: Mapping[str, Any], labels: Sequence[str], timestamp_ms: int
) -> tuple[tuple[str, str], ...]:
    request = _mapping(payload.get("requestDetails"))
    app = _mapping(payload.get("appIntegrity"))
    device = _mapping(payload.get("deviceIntegrity"))
    account = _mapping(payload.get("accountDetails"))
    environment = _mapping(payload.get("environmentDetails"))
    attributes = _mapping(device.get("deviceAttributes"))
    activity = _mapping(device.get("recentDeviceActivity"))
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    candidates: list[tuple[str, object]] = [
        ("labels", ",".join(labels) or "none"),
        ("app_verdict", app.get("appRecognitionVerdict")),
        ("package", app.get("packageName", request.get("requestPackageName"))),
        ("version_code", app.get("versionCode")),
        ("timestamp", moment.isoformat(timespec="milliseconds")),
        ("play_protect", environment.get("playProtectVerdict")),
        ("licensing", account.get("appLicensingVerdict")),
        ("sdk_version", attributes.get("sdkVersion")),
        ("recent_device_activity", activity.get("deviceActivityLevel")),
    ]
    access = _mapping(environment.get("appAccessRiskVerdict")).get("appsDetected")
    if isinstance(access, list):
        candidates.append(("apps_detected", ",".join(a for a in access[:8] if isinstance(a, str))))
    return tuple(
        (name, _fact(value))
        for name, value in candidates
        if isinstance(value, str | int) and not isinstance(value, bool)
    )


def _fact(value: object) -> str:
    text = str(value)[: MAX_FACT_CHARS + 1]
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= MAX_FACT_CHARS else clean[: MAX_FACT_CHARS - 1] + "…"
