"""Test TLS material on loopback: a small PKI made with cryptography and a TLS server in a
thread that presents a chosen chain (the canaries of network protection tests)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CANARY = "canary.test"
LOOPBACK = "127.0.0.1"
NOW = datetime.now(UTC)

# --- a test PKI -------------------------------------------------------------------------------

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openmtd tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    key: PrivateKey | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
    padding: bytes = b"",
) -> Issued:
    """A certificate for ``common_name``, self-signed unless ``issuer`` is given; ``padding``
    goes into an unrecognized extension to make the certificate as large as a test needs."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        # What the web PKI requires (cryptography's verifier refuses a chain without them).
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )  # fmt: skip
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if dns_names or ip_addresses:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if padding:
        oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, padding), critical=False)
    cert = builder.sign(signer, algorithm or hashes.SHA256())
    return Issued(cert, key)


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued
    leaf: Issued


def make_pki() -> Pki:
    root = issue("openmtd test root", ca=True)
    intermediate = issue("openmtd test intermediate", issuer=root, ca=True)
    leaf = issue(CANARY, issuer=intermediate, dns_names=(CANARY,))
    return Pki(root, intermediate, leaf)


# --- servers on loopback -----------------------------------------------------------------------


@dataclass
class TlsServer:
    """A TLS server in a thread that presents ``chain`` (leaf first) and records the SNI names
    it was asked for; each connection stays open until the client closes it."""

    chain: list[Issued]
    directory: Path
    legacy: bool = False  # an old appliance: TLS 1.0 only, security level 0
    refuse_names: bool = False  # answer every SNI with an unrecognized_name alert
    server_names: list[str | None] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._context = self._make_context()

    def _make_context(self) -> ssl.SSLContext:
        certfile = self.directory / "chain.pem"
        keyfile = self.directory / "key.pem"
        certfile.write_bytes(b"".join(c.pem for c in self.chain))
        keyfile.write_bytes(
            self.chain[0].key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.legacy:
            context.set_ciphers("ALL:@SECLEVEL=0")
            with warnings.catch_warnings():  # Python deprecates TLS 1.0: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
        context.load_cert_chain(certfile, keyfile)
        context.sni_callback = self._on_sni
        return context

    def _on_sni(self, _obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        self.server_names.append(name)
        return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME if self.refuse_names else None

    def __enter__(self) -> TlsServer:
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=10)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        """Handshake, then hold the connection until the client goes (mitmproxy keeps its
        upstream connection while it finishes the client's handshake). Blocking calls run in
        0.1 s slices so that the server stops promptly."""
        conn.settimeout(0.1)
        with contextlib.suppress(OSError, ValueError), conn:
            tls = self._context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            with tls:
                while not self._stop.is_set():
                    try:
                        tls.do_handshake()
                        break
                    except TimeoutError:
                        continue
                while not self._stop.is_set():
                    try:
                        if not tls.recv(4096):
                            return
                    except TimeoutError:
                        continue
