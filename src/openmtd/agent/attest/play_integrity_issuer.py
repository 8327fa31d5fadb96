"""A software stand-in for Google's side of Play Integrity (simulator, tests, benchmark).

`PlayIntegrityIssuer` holds what Google holds for one app with self-managed response keys: the
AES-256 key that wraps each token's content key and the P-256 key that signs the verdict. It
hands the admin the same two base64 strings the Play Console offers for download and issues
real tokens - a JWS (ES256) of the verdict JSON, encrypted as a JWE (A256KW, A256GCM) - in the
shapes `openmtd.engines.integrity.play_integrity` decrypts and verifies. `verdict_payload`
builds the verdict JSON the way Google's documentation shows it (timestamps and version codes
as decimal strings, no app details when the app was not evaluated).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from openmtd.engines.integrity.play_integrity import normalize_certificate_digest

__all__ = ["JWE_HEADER", "JWS_HEADER", "PlayIntegrityIssuer", "verdict_payload"]

JWE_HEADER: Mapping[str, str] = {"alg": "A256KW", "enc": "A256GCM"}
JWS_HEADER: Mapping[str, str] = {"alg": "ES256"}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _json_b64url(document: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(document, separators=(",", ":")).encode("utf-8"))


@dataclass(frozen=True)
class PlayIntegrityIssuer:
    """Google's keys for one app; issues encrypted, signed integrity tokens."""

    decryption_key: bytes = field(repr=False)  # 32 bytes, AES-256 key-wrapping key
    signing_key: ec.EllipticCurvePrivateKey = field(repr=False)  # P-256

    @classmethod
    def generate(cls) -> PlayIntegrityIssuer:
        """Fresh keys, as the Play Console makes them when response encryption is set up."""
        return cls(os.urandom(32), ec.generate_private_key(ec.SECP256R1()))

    def keys_base64(self) -> tuple[str, str]:
        """(decryption key, verification key) as the Play Console hands them to the admin:
        base64 of the raw AES key and base64 of the DER SubjectPublicKeyInfo."""
        verification = self.signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return (
            base64.b64encode(self.decryption_key).decode("ascii"),
            base64.b64encode(verification).decode("ascii"),
        )

    def token(self, payload: Mapping[str, Any]) -> str:
        """The integrity token for the verdict `payload`."""
        return self.sign_and_encrypt(json.dumps(payload, separators=(",", ":")).encode("utf-8"))

    def sign_and_encrypt(
        self,
        payload: bytes,
        *,
        jws_header: Mapping[str, Any] = JWS_HEADER,
        jwe_header: Mapping[str, Any] = JWE_HEADER,
    ) -> str:
        """A token around any `payload` bytes, with any headers (tests build bad tokens so)."""
        return self.encrypt(self.sign(payload, header=jws_header), header=jwe_header)

    def sign(self, payload: bytes, *, header: Mapping[str, Any] = JWS_HEADER) -> str:
        """The JWS compact serialization of `payload`, signed ES256 (raw r || s)."""
        signing_input = f"{_json_b64url(header)}.{_b64url(payload)}"
        der = self.signing_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(signature)}"

    def encrypt(self, plaintext: str, *, header: Mapping[str, Any] = JWE_HEADER) -> str:
        """The JWE compact serialization of `plaintext`: A256KW-wrapped key, A256GCM content."""
        header_b64 = _json_b64url(header)
        content_key = os.urandom(32)
        iv = os.urandom(12)
        sealed = AESGCM(content_key).encrypt(
            iv, plaintext.encode("utf-8"), header_b64.encode("ascii")
        )
        ciphertext, tag = sealed[:-16], sealed[-16:]
        wrapped = aes_key_wrap(self.decryption_key, content_key)
        return ".".join(
            (header_b64, _b64url(wrapped), _b64url(iv), _b64url(ciphertext), _b64url(tag))
        )


def verdict_payload(
    *,
    challenge: bytes,
    package_name: str,
    certificate_sha256: str,
    labels: Sequence[str],
    now: datetime,
    app_verdict: str = "PLAY_RECOGNIZED",
    version_code: int = 1,
    licensing: str = "LICENSED",
    play_protect: str = "NO_ISSUES",
    sdk_version: int | None = None,
    classic: bool = False,
) -> dict[str, Any]:
    """A verdict as Google returns it for a request bound to `challenge`.

    `certificate_sha256` in any form `normalize_certificate_digest` accepts; `labels` are the
    deviceRecognitionVerdict labels; `classic` puts the challenge in ``nonce`` (classic API)
    instead of ``requestHash`` (standard API).
    """
    request: dict[str, Any] = {
        "requestPackageName": package_name,
        "nonce" if classic else "requestHash": _b64url(challenge),
        "timestampMillis": str(int(now.timestamp() * 1000)),
    }
    app: dict[str, Any] = {"appRecognitionVerdict": app_verdict}
    if app_verdict != "UNEVALUATED":
        app |= {
            "packageName": package_name,
            "certificateSha256Digest": [normalize_certificate_digest(certificate_sha256)],
            "versionCode": str(version_code),
        }
    device: dict[str, Any] = {"deviceRecognitionVerdict": list(labels)}
    if sdk_version is not None:
        device["deviceAttributes"] = {"sdkVersion": sdk_version}
    return {
        "requestDetails": request,
        "appIntegrity": app,
        "deviceIntegrity": device,
        "accountDetails": {"appLicensingVerdict": licensing},
        "environmentDetails": {
            "playProtectVerdict": play_protect,
            "appAccessRiskVerdict": {"appsDetected": ["KNOWN_INSTALLED", "UNKNOWN_INSTALLED"]},
        },
    }
