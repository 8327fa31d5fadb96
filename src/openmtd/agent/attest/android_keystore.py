"""A software "test keystore" that answers attestation challenges like a phone's TEE.

A real Android device attests a key with a chain leaf -> attestation intermediate(s) -> Google
root; the leaf carries the KeyDescription extension. ``AttestationCA`` plays the manufacturer
and the TEE: a root CA and an intermediate "TEE" CA generated with cryptography, which sign a
fresh P-256 leaf per attestation with a KeyDescription built by the engine's own encoder
(attestation version 200, KeyMint). The chains are real X.509 and verify with
``verify_key_attestation`` once the test root is a trust anchor, so the simulator, the tests
and the benchmark exercise the same code path as a fleet of phones.

This is a test CA: its keys are written unencrypted. Never pin its root in production.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from openmtd.engines.integrity.key_description import (
    KEY_DESCRIPTION_OID,
    Enforcement,
    KeyDescription,
    RootOfTrust,
    SecurityLevel,
    VerifiedBootState,
    encode_key_description,
)

__all__ = [
    "DEFAULT_PACKAGES",
    "TEST_SIGNER_SHA256",
    "AttestationCA",
    "AttestedKey",
    "key_description",
]

ROOT_CERT_FILE = "test-attestation-root.pem"
ROOT_KEY_FILE = "test-attestation-root-key.pem"
INTERMEDIATE_CERT_FILE = "test-attestation-intermediate.pem"
INTERMEDIATE_KEY_FILE = "test-attestation-intermediate-key.pem"

#: SHA-256 of the signing certificate the simulated agent app is "signed" with.
TEST_SIGNER_SHA256 = hashlib.sha256(b"openmtd test app signing certificate").hexdigest()
DEFAULT_PACKAGES: tuple[tuple[str, int], ...] = (("com.openmtd.agent", 1),)

KEYMINT_VERSION = 200
_VERIFIED_BOOT_KEY = hashlib.sha256(b"openmtd test verified boot key").digest()
_VERIFIED_BOOT_HASH = hashlib.sha256(b"openmtd test system image").digest()
# Attested keys have no validity of their own: KeyMint writes the epoch and the 32-bit end.
_LEAF_NOT_BEFORE = datetime(1970, 1, 1, tzinfo=UTC)
_LEAF_NOT_AFTER = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)
_LEAF_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Android Keystore Key")])
_EC_ALGORITHM = 3  # KeyMint Algorithm.EC
_PURPOSE_SIGN, _PURPOSE_VERIFY = 2, 3

CAKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class AttestedKey:
    """A key "generated in the keystore": its private half and its attestation chain."""

    private_key: ec.EllipticCurvePrivateKey
    chain: tuple[bytes, ...]  # DER, leaf first, root last
    description: KeyDescription


class AttestationCA:
    """A test attestation root and its intermediate "TEE" CA."""

    def __init__(
        self,
        *,
        root_key: CAKey,
        root_certificate: x509.Certificate,
        intermediate_key: CAKey,
        intermediate_certificate: x509.Certificate,
    ) -> None:
        self.root_key = root_key
        self.root_certificate = root_certificate
        self.intermediate_key = intermediate_key
        self.intermediate_certificate = intermediate_certificate

    # -- creation and storage -----------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        *,
        ec: bool = True,
        name: str = "openmtd test attestation root",
        not_before: datetime = datetime(2020, 1, 1, tzinfo=UTC),
        not_after: datetime = datetime(2099, 12, 31, tzinfo=UTC),
    ) -> AttestationCA:
        """A new root and intermediate, P-256 (``ec``) or RSA-2048."""
        root_key, intermediate_key = _new_ca_key(ec=ec), _new_ca_key(ec=ec)
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        root = _ca_certificate(
            subject=root_name,
            public_key=root_key.public_key(),
            issuer=root_name,
            issuer_key=root_key,
            validity=(not_before, not_after),
        )
        intermediate_name = x509.Name(
            [
                x509.NameAttribute(NameOID.SERIAL_NUMBER, f"{x509.random_serial_number():x}"[:16]),
                x509.NameAttribute(NameOID.TITLE, "TEE"),
            ]
        )
        intermediate = _ca_certificate(
            subject=intermediate_name,
            public_key=intermediate_key.public_key(),
            issuer=root_name,
            issuer_key=root_key,
            validity=(not_before, not_after),
        )
        return cls(
            root_key=root_key,
            root_certificate=root,
            intermediate_key=intermediate_key,
            intermediate_certificate=intermediate,
        )

    def root_pem(self) -> bytes:
        """The root certificate, to pin as a trust anchor."""
        return self.root_certificate.public_bytes(serialization.Encoding.PEM)

    def to_dir(self, path: Path | str) -> None:
        """Write the certificates and (unencrypted) keys as PEM files into ``path``."""
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        _write(directory / ROOT_CERT_FILE, self.root_pem(), private=False)
        _write(directory / ROOT_KEY_FILE, _key_pem(self.root_key), private=True)
        intermediate_pem = self.intermediate_certificate.public_bytes(serialization.Encoding.PEM)
        _write(directory / INTERMEDIATE_CERT_FILE, intermediate_pem, private=False)
        _write(directory / INTERMEDIATE_KEY_FILE, _key_pem(self.intermediate_key), private=True)

    @classmethod
    def from_dir(cls, path: Path | str) -> AttestationCA:
        """Read a CA written by ``to_dir``."""
        directory = Path(path)
        return cls(
            root_key=_load_key(directory / ROOT_KEY_FILE),
            root_certificate=x509.load_pem_x509_certificate(
                (directory / ROOT_CERT_FILE).read_bytes()
            ),
            intermediate_key=_load_key(directory / INTERMEDIATE_KEY_FILE),
            intermediate_certificate=x509.load_pem_x509_certificate(
                (directory / INTERMEDIATE_CERT_FILE).read_bytes()
            ),
        )

    # -- attestation --------------------------------------------------------------------------

    def attest(
        self,
        challenge: bytes,
        *,
        security_level: SecurityLevel | str = SecurityLevel.TRUSTED_ENVIRONMENT,
        verified_boot_state: VerifiedBootState | str = VerifiedBootState.VERIFIED,
        device_locked: bool = True,
        os_version: int = 140000,
        os_patch_level: int = 202401,
        packages: Sequence[tuple[str, int]] = DEFAULT_PACKAGES,
        signer_sha256: Sequence[str] = (TEST_SIGNER_SHA256,),
        now: datetime,
    ) -> list[bytes]:
        """The DER chain (leaf first) of a new key attested with ``challenge``."""
        description = key_description(
            challenge,
            security_level=security_level,
            verified_boot_state=verified_boot_state,
            device_locked=device_locked,
            os_version=os_version,
            os_patch_level=os_patch_level,
            packages=packages,
            signer_sha256=signer_sha256,
            now=now,
        )
        return list(self.issue(description).chain)

    def issue(
        self, description: KeyDescription, *, leaf_key: ec.EllipticCurvePrivateKey | None = None
    ) -> AttestedKey:
        """A new P-256 key (or ``leaf_key``) certified with exactly this ``description``."""
        key = leaf_key or ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Android Keystore Key")])
            )
            .issuer_name(self.intermediate_certificate.subject)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(_LEAF_NOT_BEFORE)
            .not_valid_after(_LEAF_NOT_AFTER)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier(KEY_DESCRIPTION_OID), encode_key_description(description)
                ),
                critical=False,
            )
            .sign(self.intermediate_key, hashes.SHA256())
        )
        chain = (leaf, self.intermediate_certificate, self.root_certificate)
        return AttestedKey(
            private_key=key,
            chain=tuple(c.public_bytes(serialization.Encoding.DER) for c in chain),
            description=description,
        )


def key_description(
    challenge: bytes,
    *,
    security_level: SecurityLevel | str = SecurityLevel.TRUSTED_ENVIRONMENT,
    verified_boot_state: VerifiedBootState | str = VerifiedBootState.VERIFIED,
    device_locked: bool = True,
    os_version: int = 140000,
    os_patch_level: int = 202401,
    packages: Sequence[tuple[str, int]] = DEFAULT_PACKAGES,
    signer_sha256: Sequence[str] = (TEST_SIGNER_SHA256,),
    now: datetime,
) -> KeyDescription:
    """What a KeyMint 200 keystore would attest for a new P-256 signing key."""
    level = SecurityLevel(security_level)
    hardware = level is not SecurityLevel.SOFTWARE
    return KeyDescription(
        attestation_version=KEYMINT_VERSION,
        attestation_security_level=level,
        keymint_version=KEYMINT_VERSION,
        keymint_security_level=level,
        challenge=challenge,
        root_of_trust=RootOfTrust(
            verified_boot_key=_VERIFIED_BOOT_KEY,
            device_locked=device_locked,
            verified_boot_state=VerifiedBootState(verified_boot_state),
            verified_boot_hash=_VERIFIED_BOOT_HASH,
            enforcement=Enforcement.HARDWARE if hardware else Enforcement.SOFTWARE,
        ),
        os_version=os_version,
        os_patch_level=os_patch_level,
        vendor_patch_level=os_patch_level * 100 + 1,
        boot_patch_level=os_patch_level * 100 + 1,
        application_id_present=True,
        packages=tuple(packages),
        signature_digests=tuple(h.lower() for h in signer_sha256),
        creation_time_ms=int(now.timestamp() * 1000),
        origin=0,  # generated inside the keystore
        algorithm=_EC_ALGORITHM,
        key_size=256,
        purposes=(_PURPOSE_SIGN, _PURPOSE_VERIFY),
    )


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _new_ca_key(*, ec: bool) -> CAKey:
    if ec:
        return _ec_key()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca_certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Name,
    issuer_key: CAKey,
    validity: tuple[datetime, datetime],
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: CAKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> CAKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}; an EC or RSA key is expected")
    return key


def _write(path: Path, data: bytes, *, private: bool) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
