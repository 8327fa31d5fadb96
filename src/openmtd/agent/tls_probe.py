"""The agent's TLS probe: handshake with a canary endpoint and keep the chain it was shown.

Network protection catches TLS interception (a rogue proxy, a captive portal, an installed
corporate or malicious root) by comparing what the device is presented at a known endpoint with
what that endpoint really serves. The probe only records; judging the chain is the certificate
engine's job on the server (``openmtd.engines.network.certs``). So the handshake is made without
verification and with a permissive configuration: an interceptor with a self-signed, expired,
misnamed or weak certificate, or an old box that speaks TLS 1.0 only, must still be seen, because
what it presents is the evidence. Nothing but the handshake is sent, so accepting weak parameters
leaks nothing.

Network trouble is a result, never an exception: the agent runs probes on a schedule, and a
refused port or a server that speaks no TLS is something to report, not a crash.

    result = probe_tls_chain("canary.example", 443)
    if result.ok:
        ... result.chain  # DER bytes, leaf first
"""

from __future__ import annotations

import _ssl
import errno
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The certificate engine's input limits: a chain beyond them would be refused there anyway.
MAX_CHAIN_LENGTH = 10
MAX_CERTIFICATE_BYTES = 16 * 1024

# Every cipher with a certificate (no anonymous or null ones: they would hide the chain), at
# security level 0, the only one at which OpenSSL 3 still speaks TLS 1.0 and 1.1 and accepts
# weak keys and signatures.
_CIPHERS = "ALL:!aNULL:!eNULL:@SECLEVEL=0"

# OpenSSL's reasons for alerts received from the peer: *_ALERT_* and a few named without it.
_ALERT_REASONS = frozenset(
    {
        "TLSV1_UNRECOGNIZED_NAME",
        "TLSV1_UNSUPPORTED_EXTENSION",
        "TLSV1_CERTIFICATE_UNOBTAINABLE",
        "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE",
        "TLSV1_BAD_CERTIFICATE_HASH_VALUE",
    }
)
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL})


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One handshake with ``host:port`` (SNI ``server_name``) and what it showed.

    ``chain`` is every certificate the server sent, DER, leaf first, in the server's order.
    ``complete_chain`` is False when this Python can only read the leaf (then the chain holds
    the leaf alone, and a judge must not conclude anything from missing intermediates).
    ``error`` is empty on success, else one sentence that starts with a stable word: timeout,
    refused, unreachable, dns, closed, reset, tls-alert, tls, no-certificate, too-long,
    too-large, invalid (the host, port or server name cannot be used) or network. On error
    ``chain`` is empty.
    """

    host: str
    port: int
    server_name: str
    chain: tuple[bytes, ...] = ()
    tls_version: str = ""
    cipher: str = ""
    complete_chain: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def probe_tls_chain(
    host: str, port: int, *, server_name: str | None = None, timeout: float = 5.0
) -> ProbeResult:
    """Connect to ``host:port``, complete a TLS handshake without verifying anything, and
    return the presented chain.

    ``server_name`` is the SNI to send (default, or when empty: ``host``; Python sends none for
    an IP address).
    ``timeout`` bounds the TCP connection and the handshake together (name resolution is the
    system resolver's and is not bounded by it).
    """
    sni = server_name or host
    failed = ProbeResult(host=host, port=port, server_name=sni)
    # getaddrinfo would take "" for the local host and port 70000 for 4464
    if not host:
        return _with_error(failed, "invalid: no host to connect to")
    if not 0 < port < 65536:
        return _with_error(failed, f"invalid: port {port} is not between 1 and 65535")
    context = _client_context()
    problem = _unusable_sni(context, sni)
    if problem:
        what = "server name" if server_name else "host"
        return _with_error(failed, f"invalid: the {what} {sni!r} cannot be sent as SNI ({problem})")
    deadline = time.monotonic() + timeout
    phase = "connect"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            phase = "handshake"
            raw.settimeout(max(deadline - time.monotonic(), 0.001))
            with context.wrap_socket(raw, server_hostname=sni) as tls:
                chain, complete = _presented_chain(tls)
                version = tls.version() or ""
                cipher = (tls.cipher() or ("",))[0]
    except (OSError, ValueError) as exc:
        return _with_error(failed, _describe(exc, phase, host, port, timeout))
    problem = _check_bounds(chain)
    if problem:
        return _with_error(failed, problem)
    return ProbeResult(
        host=host,
        port=port,
        server_name=sni,
        chain=chain,
        tls_version=version,
        cipher=cipher,
        complete_chain=complete,
    )


def _client_context() -> ssl.SSLContext:
    """A client context that accepts whatever the server shows (see the module docstring)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers(_CIPHERS)
    return context


def _unusable_sni(context: ssl.SSLContext, sni: str) -> str:
    """Why the ssl module would refuse ``sni``, or "". Asked of a memory-only TLS object, because
    on a real socket the refusal comes after the connection and leaks the socket (Python 3.11)."""
    try:
        context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=sni)
    except (ValueError, TypeError) as exc:  # IDNA (a label too long, a leading dot), a NUL
        return str(exc)
    return ""


def _presented_chain(tls: ssl.SSLSocket) -> tuple[tuple[bytes, ...], bool]:
    """The peer's chain as sent, and whether it is the whole chain or the leaf alone.

    Python 3.13 has ``SSLSocket.get_unverified_chain()``; 3.11 and 3.12 have the same call on
    the private ``_sslobj`` (returning ``_ssl.Certificate`` objects); anything else offers only
    the leaf through ``getpeercert(binary_form=True)``.
    """
    public = getattr(tls, "get_unverified_chain", None)
    if callable(public):
        return _as_der(public()), True
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if callable(private):
        return _as_der(private()), True
    leaf = tls.getpeercert(binary_form=True)
    return ((leaf,) if leaf else ()), False


def _as_der(certificates: Iterable[Any] | None) -> tuple[bytes, ...]:
    """DER bytes from the public call (already bytes) or the private one (Certificate objects)."""
    ders: list[bytes] = []
    for cert in certificates or ():
        if isinstance(cert, bytes | bytearray):
            ders.append(bytes(cert))
        else:
            ders.append(bytes(cert.public_bytes(_ssl.ENCODING_DER)))
    return tuple(ders)


def _check_bounds(chain: tuple[bytes, ...]) -> str:
    """Why the chain cannot be reported as it is, or "" (the engine's limits, checked early so
    that a hostile server cannot make the agent upload megabytes)."""
    if not chain:
        return "no-certificate: the server completed the handshake without a certificate"
    if len(chain) > MAX_CHAIN_LENGTH:
        return (
            f"too-long: the server presented {len(chain)} certificates; "
            f"at most {MAX_CHAIN_LENGTH} are reported"
        )
    for i, der in enumerate(chain):
        if len(der) > MAX_CERTIFICATE_BYTES:
            return (
                f"too-large: certificate {i} is {len(der)} bytes; "
                f"at most {MAX_CERTIFICATE_BYTES} are reported"
            )
    return ""


def _with_error(failed: ProbeResult, error: str) -> ProbeResult:
    return ProbeResult(
        host=failed.host, port=failed.port, server_name=failed.server_name, error=error
    )


def _describe(exc: OSError | ValueError, phase: str, host: str, port: int, timeout: float) -> str:
    """One sentence for a failed probe, starting with the stable word (see ProbeResult)."""
    where = f"{host}:{port}"
    if isinstance(exc, ValueError):  # not expected after _unusable_sni; still not a crash
        return f"invalid: the host {host!r} cannot be used ({exc})"
    if isinstance(exc, TimeoutError):
        step = "accept a TCP connection" if phase == "connect" else "complete the TLS handshake"
        return f"timeout: {where} did not {step} within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"dns: {host} could not be resolved ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"refused: {where} refused the connection"
    if isinstance(exc, ConnectionResetError):
        return f"reset: {where} reset the connection during the {phase}"
    if isinstance(exc, ssl.SSLZeroReturnError | ssl.SSLEOFError):
        return f"closed: {where} closed the connection during the TLS handshake"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or exc.strerror or str(exc)
        if _is_alert(reason):
            return f"tls-alert: {where} ended the handshake with an alert ({reason})"
        return f"tls: the handshake with {where} failed ({reason})"
    if exc.errno in _UNREACHABLE:
        return f"unreachable: {where} ({exc.strerror})"
    return f"network: {where} during the {phase}: {exc.strerror or exc}"


def _is_alert(reason: str) -> bool:
    """Whether OpenSSL's reason names an alert the server sent (the server refused the
    handshake, rather than the client giving up on what it received)."""
    upper = reason.upper()
    return "_ALERT_" in upper or upper in _ALERT_REASONS
