"""Walk an attestation certificate chain from the attested key up to a pinned trust anchor.

Attestation chains are not web PKI: leaves carry notBefore 1970, no names and custom
extensions, so cryptography's web-PKI verifier refuses them. What attestation needs is small
and written here: every certificate parses, is issued by the next one (issuer name and
signature), is within its validity at the given time, and the top of the chain is one of the
pinned anchors (the same public key) or is signed by one. As in RFC 5280 path validation, a
trust anchor is a name and a key: its own dates are not checked (Google's 2016 attestation root
expired in 2026 and still anchors chains whose intermediates are valid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

MAX_CHAIN_LENGTH = 10
MAX_CERTIFICATE_BYTES = 16 * 1024

# Issuer signatures already checked, by (child, issuer) - certificates compare by their DER.
# A fleet's chains share a few intermediates and roots, and one P-384 or RSA-4096 signature
# costs as much as the rest of a verification, so a pair that verified is not verified again
# (dates are still checked every time). Only CA-to-CA pairs that verified are kept: hostile input
# cannot fill the memo, and per-device leaves never enter it.
_VERIFIED_PAIRS: dict[tuple[x509.Certificate, x509.Certificate], None] = {}
_VERIFIED_PAIRS_MAX = 1024


class ChainError(Exception):
    """The chain cannot be trusted; ``code`` is stable, the message says exactly why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """Pinned root certificates, matched by their public key (read PEM with
    `engines.integrity.roots.anchors_from_pem`)."""

    certificates: tuple[x509.Certificate, ...]
    by_key: dict[bytes, x509.Certificate] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        table: dict[bytes, x509.Certificate] = {}
        for cert in self.certificates:
            table.setdefault(_spki(cert), cert)
        object.__setattr__(self, "by_key", table)

    def __len__(self) -> int:
        return len(self.certificates)


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_der_chain(ders: Sequence[bytes]) -> list[x509.Certificate]:
    """Parse a chain given leaf first; a precise ChainError for anything malformed."""
    if not ders:
        raise ChainError("chain_empty", "the certificate chain is empty")
    if len(ders) > MAX_CHAIN_LENGTH:
        raise ChainError(
            "chain_too_long",
            f"the chain has {len(ders)} certificates; at most {MAX_CHAIN_LENGTH} are accepted",
        )
    chain: list[x509.Certificate] = []
    for i, der in enumerate(ders):
        if len(der) > MAX_CERTIFICATE_BYTES:
            raise ChainError(
                "certificate_too_large",
                f"certificate {i} is {len(der)} bytes; at most {MAX_CERTIFICATE_BYTES} are "
                "accepted",
            )
        try:
            cert = x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion) as e:
            raise ChainError(
                "certificate_malformed", f"certificate {i} is not a DER X.509 certificate: {e}"
            ) from None
        try:
            cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as e:
            raise ChainError(
                "certificate_malformed", f"certificate {i} carries an unusable public key: {e}"
            ) from None
        chain.append(cert)
    return chain


def _check_validity(cert: x509.Certificate, index: int, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise ChainError(
            "certificate_not_yet_valid",
            f"certificate {index} ({cert.subject.rfc4514_string() or 'no subject'}) is valid "
            f"only from {cert.not_valid_before_utc.isoformat()}",
        )
    if now > cert.not_valid_after_utc:
        raise ChainError(
            "certificate_expired",
            f"certificate {index} ({cert.subject.rfc4514_string() or 'no subject'}) expired "
            f"on {cert.not_valid_after_utc.isoformat()}",
        )


def _may_sign_certificates(cert: x509.Certificate) -> str | None:
    """None unless the certificate says it is not a CA (basicConstraints cA false, or a key
    usage without keyCertSign); attestation CAs that omit both are taken as they are."""
    try:
        extensions = cert.extensions
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        if not constraints.ca:
            return "it is not a CA (basicConstraints cA is false)"
    except x509.ExtensionNotFound:
        pass
    except ValueError as e:
        return f"its extensions cannot be read ({e})"
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            return "its key usage does not allow signing certificates"
    except x509.ExtensionNotFound:
        pass
    return None


def _issued_by(
    child: x509.Certificate, parent: x509.Certificate, *, remember: bool = False
) -> str | None:
    """None when ``parent`` issued ``child``; otherwise why not. ``remember``: keep a success."""
    if (child, parent) in _VERIFIED_PAIRS:
        return None
    why = _check_issued_by(child, parent)
    if why is None and remember:
        if len(_VERIFIED_PAIRS) >= _VERIFIED_PAIRS_MAX:
            _VERIFIED_PAIRS.clear()
        _VERIFIED_PAIRS[(child, parent)] = None
    return why


def _check_issued_by(child: x509.Certificate, parent: x509.Certificate) -> str | None:
    not_ca = _may_sign_certificates(parent)
    if not_ca is not None:
        return not_ca
    try:
        child.verify_directly_issued_by(parent)
    except ValueError as e:
        return f"names or algorithms do not match ({e})"
    except InvalidSignature:
        return "the signature does not verify with the issuer's key"
    except (TypeError, UnsupportedAlgorithm) as e:  # an unsupported key type
        return f"the issuer's key cannot verify signatures ({e})"
    return None


def verify_chain(
    chain: Sequence[x509.Certificate], anchors: TrustAnchors, now: datetime
) -> x509.Certificate:
    """Check ``chain`` (leaf first) and return the anchor it ends in.

    The top certificate may be the anchor itself (same public key: Android chains carry their
    root) or be issued by an anchor (Apple's x5c stops below its root).
    """
    if not chain:
        raise ChainError("chain_empty", "the certificate chain is empty")
    trusted = anchors.by_key
    for i, cert in enumerate(chain):
        try:
            key = _spki(cert)
        except (ValueError, UnsupportedAlgorithm) as e:
            raise ChainError(
                "certificate_malformed", f"certificate {i} carries an unusable public key: {e}"
            ) from None
        if key in trusted:
            if i != len(chain) - 1:
                raise ChainError(
                    "chain_order",
                    f"certificate {i} is a trust anchor but {len(chain) - 1 - i} more "
                    "certificates follow it",
                )
            return trusted[key]
        _check_validity(cert, i, now)
        if i + 1 < len(chain):
            why = _issued_by(cert, chain[i + 1], remember=i > 0)
            if why is not None:
                raise ChainError(
                    "chain_broken",
                    f"certificate {i} is not issued by certificate {i + 1}: {why}",
                )
    top = chain[-1]
    remember = len(chain) > 1  # the top is a CA, not a per-device leaf
    for anchor in anchors.certificates:
        if top.issuer == anchor.subject and _issued_by(top, anchor, remember=remember) is None:
            return anchor
    raise ChainError(
        "chain_untrusted",
        f"the chain ends in {top.subject.rfc4514_string() or 'a certificate with no subject'}"
        f" (issuer {top.issuer.rfc4514_string() or 'none'}), which is not one of the "
        f"{len(anchors)} pinned roots and is not signed by one",
    )
