"""Apps on the fleet: the APK analysis cache, per-device app verdicts, malware alerts.

An app is judged from three things: the app indicators (custom and feeds) matching its package,
file hashes or signer; the cached static analysis of its APK, done once for the whole fleet
when some device uploads it; and the device's install source. A malicious app raises a Malware
alert (Medium, as the reference product), a potentially unwanted one a Low alert; the alert
resolves itself, with a remediation event on the timeline, when the app leaves the inventory.

With "exclude app in report" on, no app name or package is stored or shown for a flagged app:
the alert names no app, its inventory row is stored under an opaque name, inventory events
carry counts only, and the server never asks that device for an APK.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmtd.domain.apps import ApkVerdict, AppFingerprint, AppVerdictKind
from openmtd.domain.device import Detection
from openmtd.domain.enums import InstallSource, Severity
from openmtd.domain.errors import NotFound
from openmtd.engines.apps.reputation import AppIndex
from openmtd.engines.apps.risk import judge_app
from openmtd.engines.apps.verdict_wire import verdict_from_dict, verdict_to_dict
from openmtd.server.alerts.service import ACTIVE, apply_detections, resolve_alert
from openmtd.store.models import Alert, ApkAnalysis, Device, DeviceApp

MALWARE = "Malware"
UNWANTED = "PotentiallyUnwantedApp"
APP_ALERT_CATEGORIES = (MALWARE, UNWANTED)
EXCLUDED_PREFIX = "excluded:"
MAX_APK_REQUESTS = 10  # per answer: the agent uploads these, then asks again
_NOT_ASKED_FOR = {
    "sideloaded": frozenset(
        {InstallSource.STORE.value, InstallSource.MANAGED.value, InstallSource.SYSTEM.value}
    ),
    "all": frozenset(),
}


def app_key(device_id: str, identifier: str) -> str:
    """An opaque, stable name for one app on one device (the alert key, the excluded row)."""
    if identifier.startswith(EXCLUDED_PREFIX):
        return identifier.removeprefix(EXCLUDED_PREFIX)
    return hashlib.sha256(f"{device_id}\0{identifier}".encode()).hexdigest()[:32]


def excluded_identifier(device_id: str, identifier: str) -> str:
    return EXCLUDED_PREFIX + app_key(device_id, identifier)


# --- the analysis cache -----------------------------------------------------------------------


def analysis(db: Session, sha256: str) -> ApkAnalysis:
    row = db.get(ApkAnalysis, sha256)
    if row is None:
        raise NotFound(f"no APK with SHA-256 {sha256} has been analysed")
    return row


def store_analysis(
    db: Session,
    *,
    verdict: ApkVerdict,
    sha256: str,
    size: int,
    rules_digest: str,
    uploaded_by: str | None,
    analysis_ms: int,
    now: datetime,
) -> ApkAnalysis:
    """Keep one APK's verdict (a concurrent upload of the same APK may have won: keep that)."""
    facts = verdict.facts
    signer = facts.signers[0] if facts and facts.signers else None
    row = ApkAnalysis(
        sha256=sha256,
        sha1=facts.sha1 if facts else "",
        md5=facts.md5 if facts else "",
        size=size,
        package=facts.package[:255] if facts else "",
        version_name=facts.version_name[:128] if facts else "",
        signer_sha256=signer.sha256 if signer else None,
        signer_sha1=signer.sha1 if signer else None,
        verdict=verdict.verdict.value,
        score=verdict.score,
        result=verdict_to_dict(verdict),
        rules_digest=rules_digest,
        analysed_at=now,
        analysis_ms=analysis_ms,
        uploaded_by=uploaded_by,
    )
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError:
        return analysis(db, sha256)
    return row


def is_in_inventory(db: Session, *, device_id: str, sha256: str) -> bool:
    return (
        db.scalar(
            select(DeviceApp.id)
            .where(DeviceApp.device_id == device_id, DeviceApp.sha256 == sha256)
            .limit(1)
        )
        is not None
    )


def apk_requests(db: Session, *, device_id: str, scope: str) -> list[str]:
    """SHA-256 of this device's apps whose APK the server wants to analyse (a few at a time)."""
    if scope == "off":
        return []
    device = db.get(Device, device_id)
    if device is None or device.privacy.get("exclude_app_in_report"):
        return []
    query = (
        select(DeviceApp.sha256)
        .outerjoin(ApkAnalysis, ApkAnalysis.sha256 == DeviceApp.sha256)
        .where(
            DeviceApp.device_id == device_id,
            DeviceApp.sha256.is_not(None),
            ApkAnalysis.sha256.is_(None),
        )
        .order_by(DeviceApp.sha256)
        .limit(MAX_APK_REQUESTS)
    )
    skipped = _NOT_ASKED_FOR.get(scope, frozenset())
    if skipped:
        query = query.where(DeviceApp.install_source.not_in(list(skipped)))
    return [s for s in db.scalars(query) if s]


def devices_with(db: Session, *, sha256: str) -> list[str]:
    return list(
        db.scalars(
            select(DeviceApp.device_id)
            .join(Device, Device.id == DeviceApp.device_id)
            .where(DeviceApp.sha256 == sha256, Device.retired_at.is_(None))
            .distinct()
        )
    )


def devices_matching(db: Session, *, values: Iterable[str]) -> list[str]:
    """Devices with an app whose package, file hash or signer is one of `values`, and devices
    with an active app alert (an indicator that went away may clear theirs)."""
    wanted = list(dict.fromkeys(values))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for column in (
            DeviceApp.identifier,
            DeviceApp.sha256,
            DeviceApp.signer_sha256,
            DeviceApp.signer_sha1,
        ):
            found.update(db.scalars(select(DeviceApp.device_id).where(column.in_(chunk))))
        found.update(
            db.scalars(
                select(DeviceApp.device_id)
                .join(ApkAnalysis, ApkAnalysis.sha256 == DeviceApp.sha256)
                .where(ApkAnalysis.sha1.in_(chunk) | ApkAnalysis.md5.in_(chunk))
            )
        )
    found.update(
        db.scalars(
            select(Alert.device_id).where(
                Alert.category.in_(APP_ALERT_CATEGORIES), Alert.status.in_(ACTIVE)
            )
        )
    )
    return sorted(found)


def all_devices(db: Session) -> list[str]:
    return list(
        db.scalars(select(Device.id).where(Device.retired_at.is_(None)).order_by(Device.id))
    )


# --- judging a device's apps ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppOutcome:
    identifier: str
    name: str
    version: str
    verdict: ApkVerdict


@dataclass(frozen=True, slots=True)
class EvaluationSummary:
    devices: int
    apps: int
    raised: int
    resolved: int


def judge_device_apps(
    db: Session, *, device: Device, index: AppIndex, now: datetime
) -> list[AppOutcome]:
    """Every app of one device with its verdict (clean ones included)."""
    apps = db.execute(
        select(
            DeviceApp.identifier,
            DeviceApp.version,
            DeviceApp.name,
            DeviceApp.install_source,
            DeviceApp.sha256,
            DeviceApp.signer_sha256,
            DeviceApp.signer_sha1,
        ).where(DeviceApp.device_id == device.id)
    ).all()
    hashes = [a.sha256 for a in apps if a.sha256]
    analyses: dict[str, ApkAnalysis] = {}
    for start in range(0, len(hashes), 500):
        analyses.update(
            (r.sha256, r)
            for r in db.scalars(
                select(ApkAnalysis).where(ApkAnalysis.sha256.in_(hashes[start : start + 500]))
            )
        )
    groups = frozenset({device.device_group, *device.assigned_tags.split()} - {""})
    outcomes = []
    for app in apps:
        cached = analyses.get(app.sha256) if app.sha256 else None
        static = verdict_from_dict(cached.result) if cached else None
        signer = (
            static.facts.signers[0] if static and static.facts and static.facts.signers else None
        )
        package = "" if app.identifier.startswith(EXCLUDED_PREFIX) else app.identifier
        fingerprint = AppFingerprint(
            package=package or (static.facts.package if static and static.facts else ""),
            sha256=app.sha256,
            sha1=cached.sha1 if cached else None,
            md5=cached.md5 if cached else None,
            signer_sha256=app.signer_sha256 or (signer.sha256 if signer else None),
            signer_sha1=app.signer_sha1 or (signer.sha1 if signer else None),
            signer_md5=signer.md5 if signer else None,
        )
        reputation = index.check(fingerprint, now=now, device_groups=groups)
        verdict = judge_app(
            static=static,
            reputation=reputation if reputation.matches else None,
            install_source=InstallSource(app.install_source),
        )
        outcomes.append(AppOutcome(app.identifier, app.name, app.version, verdict))
    return outcomes


def evaluate_devices(
    db: Session, *, device_ids: Sequence[str], index: AppIndex, now: datetime
) -> EvaluationSummary:
    """Raise, update or resolve the app alerts of these devices from their current apps."""
    raised = resolved = apps = 0
    for device_id in device_ids:
        device = db.get(Device, device_id)
        if device is None or device.retired_at is not None:
            continue
        outcomes = judge_device_apps(db, device=device, index=index, now=now)
        apps += len(outcomes)
        excluded = bool(device.privacy.get("exclude_app_in_report"))
        detections: list[Detection] = []
        flagged: set[str] = set()
        for o in outcomes:
            if o.verdict.verdict not in (
                AppVerdictKind.MALICIOUS,
                AppVerdictKind.POTENTIALLY_UNWANTED,
            ):
                continue
            key = app_key(device.id, o.identifier)
            flagged.add(key)
            detections.append(_detection(o, key=key, excluded=excluded))
            if excluded and not o.identifier.startswith(EXCLUDED_PREFIX):
                _hide_app(db, device_id=device.id, identifier=o.identifier)
        if detections:
            raised += apply_detections(
                db, device_id=device.id, detections=detections, now=now
            ).raised
        present = {app_key(device.id, o.identifier) for o in outcomes}
        resolved += _resolve_gone(
            db, device_id=device.id, flagged=flagged, present=present, now=now
        )
    return EvaluationSummary(len(device_ids), apps, raised, resolved)


def _detection(o: AppOutcome, *, key: str, excluded: bool) -> Detection:
    v = o.verdict
    malicious = v.verdict is AppVerdictKind.MALICIOUS
    what = "Malicious app" if malicious else "Potentially unwanted app"
    reasons = list(v.reasons)
    if excluded:
        title = f"{what} detected (app details excluded by privacy settings)"
        reasons = [_redact(r, o.identifier, o.name) for r in reasons]
        evidence = {}
    else:
        label = f"{o.name} ({o.identifier})" if o.name and o.name != o.identifier else o.identifier
        title = f"{what}: {label}"
        evidence = {"package": o.identifier, "app_name": o.name, "version": o.version}
    facts = v.facts
    evidence.update(
        {
            "verdict": v.verdict.value,
            "score": str(v.score),
            "confidence": v.confidence,
            "reasons": " | ".join(reasons)[:4000],
            "factors": ", ".join(f.id for f in v.factors)[:1000],
        }
    )
    if facts is not None and not excluded:
        evidence["sha256"] = facts.sha256
        if facts.signers:
            evidence["signer_sha256"] = facts.signers[0].sha256
    severity = Severity.MEDIUM if malicious else Severity.LOW
    return Detection(
        category=MALWARE if malicious else UNWANTED,
        title=title[:255],
        severity=severity,
        key=key,
        evidence=tuple(sorted(evidence.items())),
    )


def _redact(text: str, identifier: str, name: str) -> str:
    for secret in (identifier, name):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "(excluded app)")
    return text


def _hide_app(db: Session, *, device_id: str, identifier: str) -> None:
    db.execute(
        update(DeviceApp)
        .where(DeviceApp.device_id == device_id, DeviceApp.identifier == identifier)
        .values(identifier=excluded_identifier(device_id, identifier), name="")
    )


def _resolve_gone(
    db: Session, *, device_id: str, flagged: set[str], present: set[str], now: datetime
) -> int:
    """Active app alerts whose app is no longer flagged (gone, or now allowed) resolve."""
    resolved = 0
    for alert in db.scalars(
        select(Alert).where(
            Alert.device_id == device_id,
            Alert.category.in_(APP_ALERT_CATEGORIES),
            Alert.status.in_(ACTIVE),
        )
    ):
        key = alert.dedup_key.partition(":")[2]
        if key in flagged:
            continue
        why = (
            "the app is no longer judged harmful (an indicator allows it now or was removed)"
            if key in present
            else "the app left the device"
        )
        resolve_alert(db, alert, now=now, why=why, remediation=True)
        resolved += 1
    return resolved


def apply_verdict_to_fleet(
    db: Session, *, sha256: str, index: AppIndex, now: datetime
) -> EvaluationSummary:
    return evaluate_devices(db, device_ids=devices_with(db, sha256=sha256), index=index, now=now)


def verdict_of(row: ApkAnalysis) -> ApkVerdict:
    return verdict_from_dict(row.result)
