"""A typed client of the agent protocol (/api/agent/v1): enroll, check in, sync, own record.

The agent really speaks HTTP (httpx), so tests run it against a real server. Every failure the
server reports through its JSON envelope ``{"error": {"code", "message"}}`` becomes an
`AgentError` with that code, message and HTTP status; a server that cannot be reached becomes
`ServerUnreachable` (status 0), which is what the offline spool waits out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import TracebackType
from typing import Any, Final, Literal, Self, cast

import httpx

from openmtd import __version__
from openmtd.domain.enums import EnrollmentScenario, Platform, RiskLevel
from openmtd.engines.privacy import PrivacySettings

PREFIX: Final = "/api/agent/v1"
USER_AGENT: Final = f"openmtd-agent/{__version__}"


class AgentError(Exception):
    """The server refused a request (or could not be reached); `code` is machine-readable."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        return f"{self.message} ({self.code}, {where})"


class ServerUnreachable(AgentError):
    """No HTTP answer at all: connection refused, DNS failure, timeout."""

    def __init__(self, message: str) -> None:
        super().__init__("server_unreachable", message, 0)


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    model: str
    os_version: str
    manufacturer: str = ""
    security_patch_level: date | None = None
    build: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Enrollment:
    device_id: str
    device_credential: str = field(repr=False)  # a secret: never in logs or reprs
    protection_scope: str
    device_group: str
    warnings: tuple[str, ...]
    checkin_interval_seconds: int


@dataclass(frozen=True, slots=True)
class CheckInAnswer:
    report_id: str
    duplicate: bool
    risk_level: RiskLevel
    alerts_raised: int
    sync_etag: str
    next_checkin_seconds: int
    apk_requests: tuple[str, ...] = ()  # SHA-256 of APKs the server asks this device to upload
    integrity_state: str = "unknown"
    compromise_response: tuple[str, ...] = ()  # e.g. ("stop_web_protection", "clear_local_data")
    attestation_requests: tuple[str, ...] = ()  # evidence kinds the server asks for now


@dataclass(frozen=True, slots=True)
class SyncPayload:
    etag: str
    device_group: str
    checkin_interval_seconds: int
    privacy: PrivacySettings
    policy: dict[str, Any]
    web: dict[str, Any] = field(default_factory=dict)
    device_groups: tuple[str, ...] = ()
    indicator_sets: tuple[tuple[str, int], ...] = ()  # (name, revision) the agent should hold
    privacy_user_toggles: tuple[str, ...] = ()  # the privacy keys the device user may change


@dataclass(frozen=True, slots=True)
class PrivacyAnswer:
    """The device's privacy settings as the server holds them, and what its user may change."""

    privacy: PrivacySettings
    user_toggles: tuple[str, ...]
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LaunchVerdict:
    """The server's conditional-launch answer for one launch of a managed app.

    decision "allow": open; "block": do not open; "wipe": erase the app's managed data, then do
    not open (answered once; later launches while still above the level answer "block").
    """

    decision: Literal["allow", "block", "wipe"]
    threat_level: RiskLevel
    threat_level_code: int  # 1 Secured, 2 Low, 3 Medium, 4 High
    action_code: int | None  # 0 Block, 1 Wipe, None when allowed
    reason: str
    policy: dict[str, Any] | None = None  # id, name, max_risk, action of the deciding policy
    retry_after_seconds: int | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def must_wipe(self) -> bool:
        return self.decision == "wipe"


UNCHANGED: Final = "unchanged"
SyncResult = SyncPayload | Literal["unchanged"]


def privacy_from_server(values: dict[str, Any]) -> PrivacySettings:
    return PrivacySettings(
        exclude_url_in_report=bool(values.get("exclude_url_in_report", False)),
        exclude_app_in_report=bool(values.get("exclude_app_in_report", False)),
        vulnerability_privacy_mode=bool(values.get("vulnerability_privacy_mode", False)),
        network_protection_privacy=bool(values.get("network_protection_privacy", True)),
    )


class AgentClient:
    """One server, optionally one device credential. Use as a context manager."""

    def __init__(
        self,
        server_url: str,
        *,
        credential: str | None = None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if credential:
            headers["Authorization"] = f"Bearer {credential}"
        self.server_url = server_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server_url + PREFIX,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- protocol --------------------------------------------------------------------------

    def enroll(
        self,
        *,
        onboarding_token: str,
        platform: Platform,
        scenario: EnrollmentScenario,
        hardware_id: str,
        device: DeviceDescription,
        device_tag: str = "",
        privacy: PrivacySettings | None = None,
    ) -> Enrollment:
        body: dict[str, Any] = {
            "onboarding_token": onboarding_token,
            "platform": platform.value,
            "scenario": scenario.value,
            "hardware_id": hardware_id,
            "device": {
                "model": device.model,
                "manufacturer": device.manufacturer,
                "os_version": device.os_version,
                "security_patch_level": (
                    device.security_patch_level.isoformat() if device.security_patch_level else None
                ),
                "build": device.build,
                "name": device.name,
            },
            "device_tag": device_tag,
        }
        if privacy is not None:
            body["privacy"] = {
                "exclude_url_in_report": privacy.exclude_url_in_report,
                "exclude_app_in_report": privacy.exclude_app_in_report,
                "vulnerability_privacy_mode": privacy.vulnerability_privacy_mode,
                "network_protection_privacy": privacy.network_protection_privacy,
            }
        data = self._json(self._send("POST", "/enroll", json=body))
        return Enrollment(
            device_id=str(data["device_id"]),
            device_credential=str(data["device_credential"]),
            protection_scope=str(data["protection_scope"]),
            device_group=str(data["device_group"]),
            warnings=tuple(str(w) for w in data.get("warnings", ())),
            checkin_interval_seconds=int(data["checkin_interval_seconds"]),
        )

    def check_in(self, device_id: str, report: dict[str, Any]) -> CheckInAnswer:
        """Send one check-in body (as built by `reports.build_checkin`)."""
        data = self._json(self._send("POST", f"/devices/{device_id}/checkins", json=report))
        return CheckInAnswer(
            report_id=str(data["report_id"]),
            duplicate=bool(data["duplicate"]),
            risk_level=RiskLevel(data["risk_level"]),
            alerts_raised=int(data["alerts_raised"]),
            sync_etag=str(data["sync_etag"]),
            next_checkin_seconds=int(data["next_checkin_seconds"]),
            apk_requests=tuple(str(h) for h in data.get("apk_requests") or ()),
            integrity_state=str(data.get("integrity_state") or "unknown"),
            compromise_response=tuple(str(a) for a in data.get("compromise_response") or ()),
            attestation_requests=tuple(str(k) for k in data.get("attestation_requests") or ()),
        )

    def integrity_challenge(self, device_id: str, kind: str) -> dict[str, Any]:
        """A fresh single-use attestation challenge (challenge_id, challenge, expires_at)."""
        return self._json(
            self._send("POST", f"/devices/{device_id}/integrity/challenges", json={"kind": kind})
        )

    def submit_evidence(self, device_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Attestation evidence against a challenge; the answer is the server's verdict."""
        return self._json(self._send("POST", f"/devices/{device_id}/integrity/evidence", json=body))

    def apk_requests(self, device_id: str) -> tuple[str, ...]:
        """The APKs of this device the server wants to analyse."""
        data = self._json(self._send("GET", f"/devices/{device_id}/apk-requests"))
        return tuple(str(h) for h in data.get("apk_requests") or ())

    def upload_apk(self, device_id: str, sha256: str, data: bytes) -> dict[str, Any]:
        """Send one APK; the answer is the server's verdict (cached when it knew the APK)."""
        return self._json(
            self._send(
                "PUT",
                f"/devices/{device_id}/apks/{sha256}",
                content=data,
                headers={"Content-Type": "application/vnd.android.package-archive"},
            )
        )

    def sync(self, device_id: str, *, etag: str | None = None) -> SyncResult:
        """Policy and indicators; `UNCHANGED` when the server answers 304 to `etag`."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._send("GET", f"/devices/{device_id}/sync", headers=headers)
        if response.status_code == 304:
            return UNCHANGED
        data = self._json(response)
        return SyncPayload(
            etag=response.headers.get("ETag", str(data["etag"])),
            device_group=str(data["device_group"]),
            checkin_interval_seconds=int(data["checkin_interval_seconds"]),
            privacy=privacy_from_server(data.get("privacy") or {}),
            policy=dict(data.get("policy") or {}),
            web=dict(data.get("web") or {}),
            device_groups=tuple(str(g) for g in data.get("device_groups") or ()),
            indicator_sets=tuple(
                (str(ref["name"]), int(ref["revision"])) for ref in data.get("indicator_sets") or ()
            ),
            privacy_user_toggles=tuple(str(k) for k in data.get("privacy_user_toggles") or ()),
        )

    def privacy(self, device_id: str) -> PrivacyAnswer:
        """This device's privacy settings and the keys its user may change."""
        return _privacy_answer(self._json(self._send("GET", f"/devices/{device_id}/privacy")))

    def set_privacy(self, device_id: str, changes: dict[str, bool]) -> PrivacyAnswer:
        """Change privacy settings the organisation leaves to the device user; a key it keeps
        is refused (AgentError `privacy_key_locked`, HTTP 403) and nothing changes."""
        return _privacy_answer(
            self._json(self._send("PUT", f"/devices/{device_id}/privacy", json=changes))
        )

    def indicator_set(self, device_id: str, name: str) -> dict[str, Any]:
        """One whole indicator set (see engines.web.wire.IndicatorSet.to_dict)."""
        return self._json(self._send("GET", f"/devices/{device_id}/indicator-sets/{name}"))

    def own_device(self, device_id: str) -> dict[str, Any]:
        """This device's record as the server sees it: risk level, reason, active alerts."""
        return self._json(self._send("GET", f"/devices/{device_id}"))

    def launch_check(
        self, app_id: str, app_version: str | None = None, *, device_id: str
    ) -> LaunchVerdict:
        """Conditional launch: may the managed app `app_id` open now on this device?"""
        body: dict[str, Any] = {"app_id": app_id}
        if app_version is not None:
            body["app_version"] = app_version
        data = self._json(self._send("POST", f"/devices/{device_id}/launch", json=body))
        decision = str(data.get("decision"))
        if decision not in ("allow", "block", "wipe"):
            raise AgentError("bad_response", f"unknown launch decision {decision!r}", 200)
        retry = data.get("retry_after_seconds")
        policy = data.get("policy")
        return LaunchVerdict(
            decision=cast(Literal["allow", "block", "wipe"], decision),
            threat_level=RiskLevel(data["threat_level"]),
            threat_level_code=int(data["threat_level_code"]),
            action_code=None if data.get("action_code") is None else int(data["action_code"]),
            reason=str(data["reason"]),
            policy=dict(policy) if isinstance(policy, dict) else None,
            retry_after_seconds=None if retry is None else int(retry),
        )

    def access_token(self, device_id: str) -> tuple[str, str]:
        """A device-bound token for conditional access: (token, ISO expiry); shown once."""
        data = self._json(self._send("POST", f"/devices/{device_id}/access-token"))
        return str(data["token"]), str(data["expires_at"])

    def client_certificate(self, device_id: str, csr_pem: str) -> dict[str, Any]:
        """A client certificate for this device's key (PEM CSR in; certificate, CA, SHA-256,
        expiry out) that reverse proxies verify against openmtd's access CA."""
        return self._json(
            self._send("POST", f"/devices/{device_id}/client-certificate", json={"csr": csr_pem})
        )

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ServerUnreachable(
                f"cannot reach the openmtd server at {self.server_url}: "
                f"{type(e).__name__}: {e or 'no detail'}"
            ) from e
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as e:
            raise AgentError(
                "bad_response", "the server's answer is not JSON", response.status_code
            ) from e
        if not isinstance(data, dict):
            raise AgentError(
                "bad_response", "the server's answer is not a JSON object", response.status_code
            )
        return data


def _privacy_answer(data: dict[str, Any]) -> PrivacyAnswer:
    return PrivacyAnswer(
        privacy=privacy_from_server(data.get("privacy") or {}),
        user_toggles=tuple(str(k) for k in data.get("user_toggles") or ()),
        changed=tuple(str(k) for k in data.get("changed") or ()),
    )


def _error_from(response: httpx.Response) -> AgentError:
    """Read the server's error envelope; fall back to the status line for anything else."""
    status = response.status_code
    try:
        error = response.json().get("error")
        return AgentError(str(error["code"]), str(error["message"]), status)
    except (ValueError, AttributeError, KeyError, TypeError):
        reason = response.reason_phrase or "error"
        return AgentError(f"http_{status}", f"the server answered {status} {reason}", status)
