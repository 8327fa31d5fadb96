"""The agent's TLS probe against real TLS servers on loopback, and against the real mitmproxy.

A canary server with its own test PKI (root -> intermediate -> leaf for canary.test) serves with
Python's ssl; the probe must return exactly the chain it presents. Then mitmdump, in reverse mode
in front of the canary, plays the attacker: through it the probe sees a leaf for the same name
issued by mitmproxy's CA, which is what the certificate engine turns into an interception alert.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mitm import run_mitmdump
from openmtd.agent.tls_probe import (
    MAX_CERTIFICATE_BYTES,
    MAX_CHAIN_LENGTH,
    ProbeResult,
    probe_tls_chain,
)
from tlscanary import CANARY, LOOPBACK, Issued, Pki, TlsServer, issue, make_pki


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@contextlib.contextmanager
def plain_tcp_server(banner: bytes) -> Iterator[int]:
    """A server that speaks something other than TLS (an SSH banner), then waits for the
    client to hang up, so the client always reads the banner first."""
    listener = socket.create_server((LOOPBACK, 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                conn.settimeout(10)
                conn.sendall(banner)
                while conn.recv(4096):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=15)
        listener.close()


@pytest.fixture
def canary(pki: Pki, tmp_path: Path) -> Iterator[TlsServer]:
    """The canary as it usually serves: leaf and intermediate (the root is the client's)."""
    with TlsServer([pki.leaf, pki.intermediate], tmp_path) as server:
        yield server


def ders(chain: list[Issued]) -> tuple[bytes, ...]:
    return tuple(c.der for c in chain)


def assert_failed(result: ProbeResult, word: str) -> None:
    assert result.error.startswith(f"{word}: "), result.error
    assert not result.ok
    assert result.chain == ()


# --- the chain as presented ----------------------------------------------------------------------


def test_probe_returns_the_presented_chain_leaf_first(canary: TlsServer, pki: Pki) -> None:
    result = probe_tls_chain(LOOPBACK, canary.port, server_name=CANARY)

    assert result.ok, result.error
    assert result.chain == (pki.leaf.der, pki.intermediate.der)
    assert result.complete_chain is True
    assert (result.host, result.port, result.server_name) == (LOOPBACK, canary.port, CANARY)
    assert result.tls_version.startswith("TLSv1.")
    assert result.cipher
    assert canary.server_names == [CANARY]


def test_probe_keeps_every_certificate_the_server_sends(pki: Pki, tmp_path: Path) -> None:
    """A server that also sends its root: the probe reports it (the engine decides what a root
    in the chain means), in the server's order."""
    chain = [pki.leaf, pki.intermediate, pki.root]
    with TlsServer(chain, tmp_path) as server:
        result = probe_tls_chain(LOOPBACK, server.port, server_name=CANARY)

    assert result.ok, result.error
    assert result.chain == ders(chain)
    assert result.complete_chain is True


def test_sni_defaults_to_the_host(canary: TlsServer) -> None:
    """No server_name: the host is the SNI; an IP address is not sent as SNI at all (RFC 6066
    forbids it), so the server sees none."""
    result = probe_tls_chain(LOOPBACK, canary.port)

    assert result.ok, result.error
    assert result.server_name == LOOPBACK
    assert canary.server_names == [None]


def test_a_legacy_interceptor_is_still_captured(tmp_path: Path) -> None:
    """An old appliance speaking TLS 1.0 only with a 1024-bit key: a default Python client
    cannot even finish the handshake, the probe can, because what such a box presents is the
    evidence (and the probe sends nothing over the connection that a weak protocol could leak)."""
    weak = issue(
        CANARY,
        dns_names=(CANARY,),
        key=rsa.generate_private_key(public_exponent=65537, key_size=1024),
    )
    with TlsServer([weak], tmp_path, legacy=True) as server:
        default = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        default.check_hostname, default.verify_mode = False, ssl.CERT_NONE
        with (
            pytest.raises(ssl.SSLError),
            socket.create_connection((LOOPBACK, server.port), timeout=5) as raw,
            default.wrap_socket(raw, server_hostname=CANARY),
        ):
            pass
        result = probe_tls_chain(LOOPBACK, server.port, server_name=CANARY)

    assert result.ok, result.error
    assert result.chain == (weak.der,)
    assert result.tls_version == "TLSv1"


# --- bounds -------------------------------------------------------------------------------------


def test_a_chain_longer_than_the_engine_accepts_is_an_error(pki: Pki, tmp_path: Path) -> None:
    extra = [issue(f"filler {i}", ca=True) for i in range(MAX_CHAIN_LENGTH)]
    with TlsServer([pki.leaf, *extra], tmp_path) as server:
        result = probe_tls_chain(LOOPBACK, server.port, server_name=CANARY)

    assert_failed(result, "too-long")
    assert str(MAX_CHAIN_LENGTH + 1) in result.error


def test_a_certificate_larger_than_the_engine_accepts_is_an_error(pki: Pki, tmp_path: Path) -> None:
    big = issue(CANARY, issuer=pki.intermediate, padding=b"\x00" * MAX_CERTIFICATE_BYTES)
    assert len(big.der) > MAX_CERTIFICATE_BYTES
    with TlsServer([big, pki.intermediate], tmp_path) as server:
        result = probe_tls_chain(LOOPBACK, server.port, server_name=CANARY)

    assert_failed(result, "too-large")
    assert "certificate 0" in result.error


# --- network trouble is a result, not an exception -----------------------------------------------


def test_a_refused_port_is_an_error_string() -> None:
    """A bound socket that does not listen: the kernel refuses, and the port stays ours."""
    with socket.socket() as bound:
        bound.bind((LOOPBACK, 0))
        result = probe_tls_chain(LOOPBACK, bound.getsockname()[1], timeout=5)

    assert_failed(result, "refused")


def test_a_server_that_does_not_speak_tls_is_an_error_string() -> None:
    with plain_tcp_server(b"SSH-2.0-OpenSSH_9.6\r\n") as port:
        result = probe_tls_chain(LOOPBACK, port, server_name=CANARY, timeout=5)

    assert_failed(result, "tls")
    assert "WRONG_VERSION_NUMBER" in result.error


def test_a_server_that_never_answers_times_out() -> None:
    """The kernel completes the TCP connection (backlog), nobody ever sends a ServerHello."""
    with socket.create_server((LOOPBACK, 0)) as silent:
        result = probe_tls_chain(LOOPBACK, silent.getsockname()[1], timeout=0.5)

    assert_failed(result, "timeout")
    assert "did not complete the TLS handshake" in result.error


def test_a_tls_alert_is_an_error_string(pki: Pki, tmp_path: Path) -> None:
    with TlsServer([pki.leaf], tmp_path, refuse_names=True) as server:
        result = probe_tls_chain(LOOPBACK, server.port, server_name="other.test")

    assert_failed(result, "tls-alert")
    assert "UNRECOGNIZED_NAME" in result.error
    assert server.server_names == ["other.test"]


def test_an_unresolvable_name_is_an_error_string() -> None:
    result = probe_tls_chain("canary.invalid", 443, timeout=5)  # RFC 6761: never resolves

    assert_failed(result, "dns")


@pytest.mark.parametrize(
    ("host", "port", "said"),
    [
        ("", 443, "no host"),
        (LOOPBACK, 0, "port 0"),
        (LOOPBACK, 70000, "port 70000"),  # getaddrinfo would connect to 4464
        ("a" * 64 + ".test", 443, "the host"),  # a DNS label is at most 63 characters
    ],
)
def test_unusable_arguments_are_an_error_string(host: str, port: int, said: str) -> None:
    result = probe_tls_chain(host, port, timeout=5)

    assert_failed(result, "invalid")
    assert said in result.error


def test_an_unusable_server_name_is_an_error_string(canary: TlsServer) -> None:
    result = probe_tls_chain(LOOPBACK, canary.port, server_name=".canary.test")

    assert_failed(result, "invalid")
    assert "server name '.canary.test'" in result.error
    assert canary.server_names == []  # refused before connecting


# --- the real attacker: mitmproxy in front of the canary -----------------------------------------


def test_mitmproxy_interception_is_visible_in_the_chain(
    canary: TlsServer, pki: Pki, tmp_path: Path
) -> None:
    direct = probe_tls_chain(LOOPBACK, canary.port, server_name=CANARY)
    assert direct.chain[0] == pki.leaf.der

    with run_mitmdump(LOOPBACK, canary.port, confdir=tmp_path / "mitmproxy") as mitm:
        seen = probe_tls_chain(LOOPBACK, mitm.port, server_name=CANARY)

        assert seen.ok, seen.error
        assert seen.complete_chain is True
        leaf = x509.load_der_x509_certificate(seen.chain[0])
        ca = mitm.ca
        # A leaf for the canary's name, minted and signed by mitmproxy's CA ...
        assert CANARY in leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)
        assert leaf.issuer == ca.subject
        leaf.verify_directly_issued_by(ca)
        assert (
            leaf.extensions.get_extension_for_class(
                x509.AuthorityKeyIdentifier
            ).value.key_identifier
            == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        )
        # ... and nothing of the canary's own chain. mitmproxy 11.0.2 sends the leaf alone (its
        # generated CA file holds one certificate, so it has no chain file); if a version sends
        # its CA along, that is the CA from confdir, the SHA-1 an admin would list.
        assert pki.leaf.der not in seen.chain
        assert pki.intermediate.der not in seen.chain
        assert set(seen.chain[1:]) <= {mitm.ca_der}
        assert hashlib.sha1(mitm.ca_der).hexdigest() == mitm.ca_sha1
        assert mitm.ca_pem_path.read_bytes() == ca.public_bytes(serialization.Encoding.PEM)
        port = mitm.port

    # mitmdump is gone with the context: nothing listens on its port any more.
    assert_failed(probe_tls_chain(LOOPBACK, port, timeout=5), "refused")


def test_mitmproxy_keeps_its_ca_across_restarts(canary: TlsServer, tmp_path: Path) -> None:
    """The CA is created in confdir on first start and reused after, as an attacker's would be
    (and as an admin's trusted-CA entry by SHA-1 relies on)."""
    confdir = tmp_path / "mitmproxy"
    with run_mitmdump(LOOPBACK, canary.port, confdir=confdir) as first:
        pass
    with run_mitmdump(LOOPBACK, canary.port, confdir=confdir) as second:
        seen = probe_tls_chain(LOOPBACK, second.port, server_name=CANARY)

    assert second.ca_sha1 == first.ca_sha1
    assert seen.ok, seen.error
    assert x509.load_der_x509_certificate(seen.chain[0]).issuer == second.ca.subject
