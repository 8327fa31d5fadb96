"""The agent's local protection, running: the HTTP proxy and the DNS listener in one thread.

Both judge with the index built from the indicator sets on disk (see agent.web), so they keep
protecting offline with the last synced set; when a sync writes new sets the index is rebuilt
on the next request (the set files' modification times are checked at most once a second).
Detections go to the outbox (agent.outbox) and `on_detection` is called so that the caller can
check in early: a block reaches the console in seconds, not at the next scheduled check-in.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openmtd.agent import outbox, web
from openmtd.agent import state as agent_state
from openmtd.agent.protection.dns import DnsListener
from openmtd.agent.protection.proxy import ProtectionProxy
from openmtd.domain.device import Detection
from openmtd.engines.web.dns import BlockAnswer, first_nameserver
from openmtd.engines.web.index import WebIndex

RELOAD_CHECK_SECONDS = 1.0


class IndexOnDisk:
    """The web index of a state folder, rebuilt when its files change."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._index = WebIndex()
        self._stamp: tuple[tuple[str, float], ...] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.settings = web.load_settings(state_dir)

    def _files(self) -> tuple[tuple[str, float], ...]:
        folder = self.state_dir / web.WEB_DIR
        if not folder.is_dir():
            return ()
        return tuple(sorted((p.name, p.stat().st_mtime) for p in folder.glob("*.json")))

    def __call__(self) -> WebIndex:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS and self._stamp is not None:
            return self._index
        with self._lock:
            self._checked = now
            stamp = self._files()
            if stamp != self._stamp:
                self.settings = web.load_settings(self.state_dir)
                self._index = web.load_index(self.state_dir, self.settings)
                self._stamp = stamp
        return self._index


@dataclass(frozen=True, slots=True)
class Listening:
    proxy_url: str
    dns_address: tuple[str, int] | None


class LocalProtection:
    """Start with start(); stop with stop(). Thread-safe to call from the agent's main loop."""

    def __init__(
        self,
        state_dir: Path,
        *,
        proxy_port: int = 0,
        dns_port: int | None = None,
        dns_upstream: str = "",
        host: str = "127.0.0.1",
        on_detection: Callable[[Detection], None] = lambda _d: None,
    ) -> None:
        self.state_dir = state_dir
        self.index = IndexOnDisk(state_dir)
        self._host = host
        self._proxy_port = proxy_port
        self._dns_port = dns_port
        self._dns_upstream = dns_upstream
        self._notify = on_detection
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._proxy: ProtectionProxy | None = None
        self._dns: DnsListener | None = None

    def _exclude_url(self) -> bool:
        try:
            return agent_state.load(self.state_dir).privacy.exclude_url_in_report
        except agent_state.StateError:
            return True  # when in doubt, report less

    def _groups(self) -> frozenset[str]:
        return frozenset(self.index.settings.device_groups)

    def _detected(self, detection: Detection) -> None:
        outbox.add(self.state_dir, detection)
        self._notify(detection)

    def _block_answer(self) -> BlockAnswer:
        s = self.index.settings
        return BlockAnswer.of(
            s.dns_block_mode, s.dns_block_ipv4, s.dns_block_ipv6, s.dns_blocked_ttl
        )

    def start(self) -> Listening:
        self.index()
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()
        failure: list[BaseException] = []

        async def begin() -> None:
            self._proxy = ProtectionProxy(
                index=self.index,
                device_groups=self._groups(),
                exclude_url=self._exclude_url,
                on_detection=self._detected,
            )
            await self._proxy.start(self._host, self._proxy_port)
            if self._dns_port is not None:
                self._dns = DnsListener(
                    index=self.index,
                    upstream=self._dns_upstream or _system_resolver(),
                    block=self._block_answer,
                    device_groups=self._groups(),
                    exclude_url=self._exclude_url,
                    on_detection=self._detected,
                )
                await self._dns.start(self._host, self._dns_port)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(begin())
            except BaseException as e:  # reported to start()'s caller
                failure.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="local-protection", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            loop.close()
            raise failure[0]
        assert self._proxy is not None
        return Listening(self._proxy.url, self._dns.address if self._dns else None)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def end() -> None:
            if self._proxy is not None:
                await self._proxy.stop()
            if self._dns is not None:
                await self._dns.stop()

        asyncio.run_coroutine_threadsafe(end(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = None


def _system_resolver() -> str:
    """The first nameserver of /etc/resolv.conf (port 53); 127.0.0.1:53 when there is none."""
    try:
        host = first_nameserver(Path("/etc/resolv.conf").read_text())
    except OSError:
        host = None
    if host is None:
        return "127.0.0.1:53"
    return f"[{host}]:53" if ":" in host else f"{host}:53"
