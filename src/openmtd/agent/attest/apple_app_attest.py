"""A software stand-in for an iPhone's App Attest service, signed by a TEST certificate authority.

`SoftwareAppAttest` plays both the Secure Enclave and Apple's attestation servers: it makes P-256
keys, attests them with real CBOR attestation objects (credential certificate carrying the nonce
extension, authenticator data, a receipt placeholder) and signs assertions with an increasing
counter, exactly in the shapes `openmtd.engines.integrity.app_attest` verifies. Its chain ends in
an `AppAttestCA` generated here - a P-384 root and a P-384 intermediate named like Apple's but
clearly marked TEST - so nothing it makes verifies against Apple's real root: it is for the
simulator, the tests and the benchmark only.

As on a real device, a key is attested once, and assertions need an attested key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openmtd.engines.integrity.x509chain import TrustAnchors

NONCE_EXTENSION_OID: Final = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
AAGUID_PRODUCTION: Final = b"appattest" + b"\x00" * 7
AAGUID_DEVELOPMENT: Final = b"appattestdevelop"
FLAG_ATTESTED_CREDENTIAL_DATA: Final = 0x40
RECEIPT_LABEL: Final = b"OPENMTD-TEST-RECEIPT-PLACEHOLDER (random bytes, not an Apple receipt):"
CREDENTIAL_LIFETIME: Final = timedelta(days=5)
TEST_ORGANIZATION: Final = "OpenMTD TEST - not Apple"

_ROOT_FILE: Final = "root.pem"
_ROOT_KEY_FILE: Final = "root-key.pem"
_INTERMEDIATE_FILE: Final = "intermediate.pem"
_INTERMEDIATE_KEY_FILE: Final = "intermediate-key.pem"


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes += [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
    ]
    return x509.Name(attributes)


def _ca_certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    not_before: datetime,
    lifetime: timedelta,
    path_length: int | None,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA384())
    )


def nonce_extension_der(nonce: bytes) -> bytes:
    """Apple's nonce extension value, SEQUENCE { [1] EXPLICIT OCTET STRING nonce }, in DER.

    Written out byte by byte (not with the parser's ASN.1 classes) so that the tests check the
    verifier against an independent encoding.
    """
    octet_string = _der(0x04, nonce)
    explicit_1 = _der(0xA1, octet_string)
    return _der(0x30, explicit_1)


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


@dataclass(frozen=True)
class AppAttestCA:
    """A TEST App Attestation root and intermediate, shaped like Apple's (both P-384)."""

    root_key: ec.EllipticCurvePrivateKey
    root_cert: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate_cert: x509.Certificate

    @classmethod
    def generate(cls, *, now: datetime | None = None) -> AppAttestCA:
        start = (now or datetime.now(UTC)) - timedelta(days=1)
        root_key = ec.generate_private_key(ec.SECP384R1())
        root_name = _name("OpenMTD TEST App Attestation Root CA")
        root_cert = _ca_certificate(
            root_name,
            root_key,
            root_name,
            root_key,
            not_before=start,
            lifetime=timedelta(days=25 * 365),
            path_length=None,
        )
        intermediate_key = ec.generate_private_key(ec.SECP384R1())
        intermediate_cert = _ca_certificate(
            _name("OpenMTD TEST App Attestation CA 1"),
            intermediate_key,
            root_name,
            root_key,
            not_before=start,
            lifetime=timedelta(days=10 * 365),
            path_length=0,
        )
        return cls(root_key, root_cert, intermediate_key, intermediate_cert)

    def root_pem(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.PEM)

    def anchors(self) -> TrustAnchors:
        """This CA's root as the verifier's trust anchors (in place of Apple's)."""
        return TrustAnchors((self.root_cert,))

    def issue_credential_certificate(
        self,
        public_key: ec.EllipticCurvePublicKey,
        nonce: bytes,
        *,
        now: datetime,
        lifetime: timedelta = CREDENTIAL_LIFETIME,
    ) -> x509.Certificate:
        """The leaf of an attestation: the credential key, certified with ``nonce``."""
        key_id = hashlib.sha256(_uncompressed_point(public_key)).hexdigest()
        return (
            x509.CertificateBuilder()
            .subject_name(_name(key_id, "AAA Certification (TEST)"))
            .issuer_name(self.intermediate_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.UnrecognizedExtension(NONCE_EXTENSION_OID, nonce_extension_der(nonce)),
                critical=False,
            )
            .sign(self.intermediate_key, hashes.SHA256())
        )

    def to_dir(self, path: Path | str) -> None:
        """Write the certificates and (unencrypted, TEST) keys as PEM files into ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name, cert in (
            (_ROOT_FILE, self.root_cert),
            (_INTERMEDIATE_FILE, self.intermediate_cert),
        ):
            (folder / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        for name, key in (
            (_ROOT_KEY_FILE, self.root_key),
            (_INTERMEDIATE_KEY_FILE, self.intermediate_key),
        ):
            target = folder / name
            target.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            target.chmod(0o600)

    @classmethod
    def from_dir(cls, path: Path | str) -> AppAttestCA:
        folder = Path(path)
        return cls(
            _load_ec_key(folder / _ROOT_KEY_FILE),
            x509.load_pem_x509_certificate((folder / _ROOT_FILE).read_bytes()),
            _load_ec_key(folder / _INTERMEDIATE_KEY_FILE),
            x509.load_pem_x509_certificate((folder / _INTERMEDIATE_FILE).read_bytes()),
        )


def _load_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return key


def _uncompressed_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def key_id_of(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """App Attest's key identifier: SHA-256 of the uncompressed X9.62 point."""
    return hashlib.sha256(_uncompressed_point(public_key)).digest()


def cose_ec2_key(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The credential key as a COSE_Key map: kty EC2, alg ES256, crv P-256, x, y."""
    numbers = public_key.public_numbers()
    return cbor2.dumps(
        {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    )


def build_auth_data(
    app_id: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    counter: int = 0,
    aaguid: bytes = AAGUID_PRODUCTION,
    credential_id: bytes | None = None,
    flags: int = FLAG_ATTESTED_CREDENTIAL_DATA,
) -> bytes:
    """An attestation's authenticator data; the keywords let tests build wrong ones."""
    credential = key_id_of(public_key) if credential_id is None else credential_id
    return (
        hashlib.sha256(app_id.encode()).digest()
        + bytes([flags])
        + struct.pack(">I", counter)
        + aaguid
        + struct.pack(">H", len(credential))
        + credential
        + cose_ec2_key(public_key)
    )


def build_attestation(
    ca: AppAttestCA,
    public_key: ec.EllipticCurvePublicKey,
    auth_data: bytes,
    challenge: bytes,
    *,
    now: datetime,
    receipt: bytes | None = None,
    certificate_lifetime: timedelta = CREDENTIAL_LIFETIME,
) -> bytes:
    """A CBOR attestation object over ``auth_data``, its nonce certified by ``ca``."""
    client_data_hash = hashlib.sha256(challenge).digest()
    nonce = hashlib.sha256(auth_data + client_data_hash).digest()
    credential_cert = ca.issue_credential_certificate(
        public_key, nonce, now=now, lifetime=certificate_lifetime
    )
    x5c = [
        credential_cert.public_bytes(serialization.Encoding.DER),
        ca.intermediate_cert.public_bytes(serialization.Encoding.DER),
    ]
    statement = {"x5c": x5c, "receipt": receipt if receipt is not None else placeholder_receipt()}
    return cbor2.dumps({"fmt": "apple-appattest", "attStmt": statement, "authData": auth_data})


def placeholder_receipt() -> bytes:
    """Stands where Apple puts a signed receipt: a label and random bytes, nothing to verify."""
    return RECEIPT_LABEL + os.urandom(64)


def client_data_json(challenge: bytes, extra: dict[str, Any] | None = None) -> bytes:
    """The JSON an app signs: ``extra`` plus ``challenge`` as base64url without padding."""
    encoded = base64.urlsafe_b64encode(challenge).rstrip(b"=").decode("ascii")
    body = {**(extra or {}), "challenge": encoded}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class _DeviceKey:
    private_key: ec.EllipticCurvePrivateKey
    attested: bool = False
    counter: int = 0


@dataclass
class SoftwareAppAttest:
    """One app's App Attest service on one simulated device."""

    ca: AppAttestCA
    app_id: str  # "TEAMID.bundle.id"
    development: bool = field(default=False, kw_only=True)
    _keys: dict[bytes, _DeviceKey] = field(default_factory=dict, init=False, repr=False)

    @property
    def aaguid(self) -> bytes:
        return AAGUID_DEVELOPMENT if self.development else AAGUID_PRODUCTION

    def generate_key(self) -> bytes:
        """A new P-256 key in the "Secure Enclave"; returns its key id."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        key_id = key_id_of(private_key.public_key())
        self._keys[key_id] = _DeviceKey(private_key)
        return key_id

    def _key(self, key_id: bytes) -> _DeviceKey:
        key = self._keys.get(key_id)
        if key is None:
            raise KeyError(f"unknown App Attest key id {key_id.hex()}")
        return key

    def public_key(self, key_id: bytes) -> ec.EllipticCurvePublicKey:
        return self._key(key_id).private_key.public_key()

    def private_key(self, key_id: bytes) -> ec.EllipticCurvePrivateKey:
        """The key a Secure Enclave would never give out: here so that tests can forge with it."""
        return self._key(key_id).private_key

    def counter(self, key_id: bytes) -> int:
        return self._key(key_id).counter

    def attest_key(self, key_id: bytes, challenge: bytes, *, now: datetime) -> bytes:
        """The attestation object for ``key_id``; like Apple's service, once per key."""
        key = self._key(key_id)
        if key.attested:
            raise ValueError(f"key {key_id.hex()} is already attested; generate a new key")
        public_key = key.private_key.public_key()
        auth_data = build_auth_data(self.app_id, public_key, aaguid=self.aaguid)
        attestation = build_attestation(self.ca, public_key, auth_data, challenge, now=now)
        key.attested = True
        return attestation

    def assert_request(
        self, key_id: bytes, challenge: bytes, *, extra: dict[str, Any] | None = None
    ) -> tuple[bytes, bytes]:
        """(assertion, client data) for a request: the counter goes up by one each time.

        ``extra`` holds the request's own fields; they are signed together with the challenge.
        """
        key = self._key(key_id)
        if not key.attested:
            raise ValueError(f"key {key_id.hex()} is not attested; attest it first")
        key.counter += 1
        client_data = client_data_json(challenge, extra)
        authenticator_data = (
            hashlib.sha256(self.app_id.encode()).digest() + b"\x00" + struct.pack(">I", key.counter)
        )
        nonce = hashlib.sha256(authenticator_data + hashlib.sha256(client_data).digest()).digest()
        signature = key.private_key.sign(nonce, ec.ECDSA(hashes.SHA256()))
        assertion = cbor2.dumps({"signature": signature, "authenticatorData": authenticator_data})
        return assertion, client_data
