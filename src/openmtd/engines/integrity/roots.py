"""The bundled attestation trust anchors (roots/*.pem, see roots/README.md).

This is the one place that reads them: a package-data read, done once and cached, so that a
verifier holds a ready ``TrustAnchors`` and never parses roots per call.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from cryptography import x509

from openmtd.engines.integrity.x509chain import TrustAnchors

GOOGLE_ROOTS_FILE = "google_key_attestation_roots.pem"
APPLE_ROOT_FILE = "apple_app_attestation_root.pem"


def anchors_from_pem(data: bytes) -> TrustAnchors:
    """Trust anchors from PEM text holding one or more certificates."""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError("no PEM certificate (-----BEGIN CERTIFICATE-----) found")
    try:
        anchors = TrustAnchors(tuple(x509.load_pem_x509_certificates(data)))
    except ValueError as e:
        raise ValueError(f"the PEM data holds an invalid certificate: {e}") from None
    if not anchors.certificates:
        raise ValueError("no certificate could be read from the PEM data")
    return anchors


@cache
def google_key_attestation_anchors() -> TrustAnchors:
    """Google's hardware attestation roots (the current RSA and ECDSA roots and the earlier
    RSA roots)."""
    return anchors_from_pem(_bundled(GOOGLE_ROOTS_FILE))


@cache
def apple_app_attest_anchors() -> TrustAnchors:
    """Apple's App Attestation Root CA."""
    return anchors_from_pem(_bundled(APPLE_ROOT_FILE))


def _bundled(name: str) -> bytes:
    return resources.files("openmtd.engines.integrity").joinpath("roots", name).read_bytes()
