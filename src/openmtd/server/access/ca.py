"""The CA that signs device client certificates for conditional access.

Reverse proxies verify device certificates against this CA (nginx ``ssl_client_certificate``,
Traefik ``clientAuth.caFiles``, Envoy ``validation_context``); the forward-auth endpoint then
maps the certificate's SHA-256 to its device. The CA lives in a folder (ca.pem, ca-key.pem,
the key readable by its owner only), created on first use; several servers share it.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openmtd.domain.errors import InvalidInput

MAX_CSR = 16 * 1024


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    pem: str
    der: bytes
    serial: str
    not_after: datetime


class AccessCA:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._loaded: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None

    @property
    def cert_path(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def key_path(self) -> Path:
        return self.folder / "ca-key.pem"

    def certificate_pem(self, now: datetime) -> str:
        cert, _key = self._ca(now)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def _ca(self, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        with self._lock:
            if self._loaded is None:
                if not self.cert_path.exists():
                    self._create(now)
                cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
                key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise InvalidInput(f"{self.key_path} is not an EC private key")
                self._loaded = (cert, key)
            return self._loaded

    def _create(self, now: datetime) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openmtd"),
                x509.NameAttribute(NameOID.COMMON_NAME, "openmtd device access CA"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Exclusive creation: of two servers starting together, one writes and both read it.
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            _wait_for(self.cert_path)
            return
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem)
        partial = self.cert_path.with_suffix(".tmp")
        partial.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        partial.replace(self.cert_path)

    def sign(self, csr_pem: str, *, device_id: str, now: datetime, days: int) -> IssuedCertificate:
        """A client certificate for the CSR's key, naming the device (CN = device id)."""
        csr = _load_csr(csr_pem)
        ca, ca_key = self._ca(now)
        not_after = min(now + timedelta(days=days), ca.not_valid_after_utc)
        public_key = csr.public_key()
        if not isinstance(
            public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
        ):
            raise InvalidInput("the CSR's key must be EC, RSA or Ed25519", code="bad_csr")
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
            raise InvalidInput("an RSA key needs at least 2048 bits", code="bad_csr")
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openmtd device"),
                        x509.NameAttribute(NameOID.COMMON_NAME, device_id),
                    ]
                )
            )
            .issuer_name(ca.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        return IssuedCertificate(
            pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            der=cert.public_bytes(serialization.Encoding.DER),
            serial=format(cert.serial_number, "x"),
            not_after=not_after,
        )


def _wait_for(path: Path, *, seconds: float = 5.0) -> None:
    """Another process holds the new key and is writing the certificate next to it."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise InvalidInput(
                f"{path.parent} holds a CA key without ca.pem; remove ca-key.pem or add ca.pem",
                code="access_ca_incomplete",
            )
        time.sleep(0.05)


def _load_csr(text: str) -> x509.CertificateSigningRequest:
    if len(text) > MAX_CSR:
        raise InvalidInput(f"the CSR is longer than {MAX_CSR} characters", code="bad_csr")
    try:
        csr = x509.load_pem_x509_csr(text.encode())
    except ValueError as e:
        raise InvalidInput(f"not a PEM certificate signing request: {e}", code="bad_csr") from e
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError, TypeError) as e:
        raise InvalidInput(f"the CSR's signature cannot be checked: {e}", code="bad_csr") from e
    if not valid:
        raise InvalidInput("the CSR is not signed by its own key", code="bad_csr")
    return csr
