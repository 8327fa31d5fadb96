"""The real attacker for network-protection tests: mitmproxy's mitmdump on loopback.

mitmproxy 11.0.2 pins cryptography<44.1 and openmtd needs a newer one, so it cannot live in the
project's venv; it gets its own, and tests run its ``mitmdump`` as a separate process. It is
found through OPENMTD_MITMDUMP, else ``<repo>/.venv-mitmproxy/bin/mitmdump``, else PATH; when it
is absent the calling test skips with the install command (fails under OPENMTD_REQUIRE_ALL=1).

    with run_mitmdump("127.0.0.1", canary_port, confdir=tmp_path / "mitm") as mitm:
        result = probe_tls_chain("127.0.0.1", mitm.port, server_name="canary.test")
        # result.chain[0] is issued by mitm.ca_der's subject

In reverse mode mitmproxy terminates the client's TLS with a leaf it mints on the fly (copying
the upstream certificate's names, signed by its own CA, which it creates in ``confdir`` on first
start) and opens its own TLS connection to the upstream, unverified (``ssl_insecure``) so that a
test CA upstream is accepted. It listens on a port the kernel picks (``@0`` in the mode spec), and
the port is read from the process's listening socket, so parallel test runs never race for one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from conftest import missing

ROOT = Path(__file__).resolve().parents[1]
VERSION = "11.0.2"
INSTALL = (
    "install it in its own venv (it pins an older cryptography) with: python3 -m venv "
    f".venv-mitmproxy && .venv-mitmproxy/bin/pip install -q mitmproxy=={VERSION}"
    " (or point OPENMTD_MITMDUMP at a mitmdump)"
)
START_SECONDS = 30.0  # CA creation and Python start-up on a slow CI runner
STOP_SECONDS = 10.0
LOG_TAIL = 2000


@dataclass(frozen=True)
class Mitm:
    """A running mitmdump: where it listens and the CA it signs intercepted leaves with."""

    port: int
    ca_pem_path: Path
    ca_der: bytes
    ca_sha1: str  # lower-case hex of the CA certificate's DER
    host: str = "127.0.0.1"
    log_path: Path | None = None

    @property
    def ca(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.ca_der)


def find_mitmdump() -> Path | None:
    """mitmdump from OPENMTD_MITMDUMP, the repo's .venv-mitmproxy, or PATH; None when absent."""
    configured = os.environ.get("OPENMTD_MITMDUMP")
    if configured:
        path = Path(configured)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    local = ROOT / ".venv-mitmproxy" / "bin" / "mitmdump"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("mitmdump")
    return Path(found) if found else None


def require_mitmdump() -> Path:
    """The mitmdump to run; skips (or fails under OPENMTD_REQUIRE_ALL=1) when there is none."""
    found = find_mitmdump()
    if found is None:
        where = os.environ.get("OPENMTD_MITMDUMP") or "mitmdump"
        missing(f"mitmproxy {VERSION} ({where})", INSTALL)
        raise AssertionError("unreachable: missing() skips or fails")
    return found


@contextlib.contextmanager
def run_mitmdump(upstream_host: str, upstream_port: int, *, confdir: Path) -> Iterator[Mitm]:
    """mitmdump as a reverse proxy in front of ``https://upstream_host:upstream_port``.

    Yields once the proxy listens and its CA exists; on exit its whole process group is
    terminated (then killed if it lingers), so no mitmdump outlives the test.
    """
    exe = require_mitmdump()
    confdir.mkdir(parents=True, exist_ok=True)
    log_path = confdir / "mitmdump.log"
    host = f"[{upstream_host}]" if ":" in upstream_host else upstream_host
    argv = [
        str(exe),
        "--mode",
        f"reverse:https://{host}:{upstream_port}@0",
        "--listen-host",
        "127.0.0.1",
        "--set",
        f"confdir={confdir}",
        "--set",
        "ssl_insecure=true",
        "-q",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=confdir,
            start_new_session=True,  # its own process group, killed as a whole
        )
        try:
            port = _wait_listening(process, log_path)
            ca_pem_path = confdir / "mitmproxy-ca-cert.pem"
            ca_der = x509.load_pem_x509_certificate(ca_pem_path.read_bytes()).public_bytes(
                Encoding.DER
            )
            yield Mitm(
                port=port,
                ca_pem_path=ca_pem_path,
                ca_der=ca_der,
                ca_sha1=hashlib.sha1(ca_der).hexdigest(),
                log_path=log_path,
            )
        finally:
            _stop(process)


def _wait_listening(process: subprocess.Popen[bytes], log_path: Path) -> int:
    """The port mitmdump listens on, once it does and its CA file is written."""
    deadline = time.monotonic() + START_SECONDS
    ca_pem = log_path.parent / "mitmproxy-ca-cert.pem"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"mitmdump exited with status {process.returncode} before listening:\n"
                + _tail(log_path)
            )
        port = _listening_port(process.pid)
        if port is not None and ca_pem.is_file():
            return port
        time.sleep(0.05)
    raise RuntimeError(f"mitmdump did not listen within {START_SECONDS:g} s:\n{_tail(log_path)}")


def _listening_port(pid: int) -> int | None:
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr:
            return int(conn.laddr.port)
    return None


def _tail(log_path: Path) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return text[-LOG_TAIL:] or "(mitmdump wrote nothing)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (mitmdump shuts down cleanly on it), SIGKILL if it stays.

    The group is signalled only while its leader is not reaped, so its id cannot have been
    reused by an unrelated process."""
    if process.returncode is not None:  # already reaped (it died on its own)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_SECONDS)
