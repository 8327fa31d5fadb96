"""Apps the agent knows as files: reading an APK into an inventory entry, and uploading the
APKs the server asks for.

On a phone the agent reads the installed APKs from the package manager's paths; here a device
is simulated, so `--install-apk FILE` puts a real APK into the simulated inventory (sideloaded),
and the same file answers the server's upload request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from openmtd.agent.client import AgentClient, AgentError
from openmtd.agent.collectors.simulated import SimulatedDevice
from openmtd.domain.device import AppInfo
from openmtd.domain.enums import InstallSource
from openmtd.engines.apps.apk import ApkUnparseable, read_apk


class ApkUnreadable(Exception):
    """A file given as an installed APK cannot be read as one."""


@dataclass(frozen=True, slots=True)
class InstalledApk:
    app: AppInfo
    path: Path


def installed_apk(path: Path, *, source: InstallSource = InstallSource.SIDELOADED) -> InstalledApk:
    """The inventory entry of an APK file as a phone reports it: package, version, label,
    file hash and signer thumbprints."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ApkUnreadable(f"cannot read {path}: {e.strerror or e}") from e
    try:
        facts = read_apk(data).facts
    except ApkUnparseable as e:
        raise ApkUnreadable(f"{path} is not an APK the agent can read: {e.reason}") from e
    signer = facts.signers[0] if facts.signers else None
    app = AppInfo(
        identifier=facts.package,
        version=(facts.version_name or str(facts.version_code or ""))[:64],
        name=facts.label or facts.package,
        install_source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        signer_sha256=signer.sha256 if signer else None,
        signer_sha1=signer.sha1 if signer else None,
    )
    return InstalledApk(app, path)


def with_apps(device: SimulatedDevice, installed: Iterable[InstalledApk]) -> SimulatedDevice:
    """The device with these apps in its inventory (replacing an app of the same package)."""
    added = {i.app.identifier: i.app for i in installed}
    if not added:
        return device
    kept = tuple(a for a in device.facts.apps if a.identifier not in added)
    return replace(device, facts=replace(device.facts, apps=kept + tuple(added.values())))


@dataclass(frozen=True, slots=True)
class Upload:
    sha256: str
    verdict: str  # the server's verdict, or "" when the upload failed
    error: str = ""


def upload_requested(
    client: AgentClient,
    device_id: str,
    requested: Iterable[str],
    files: Mapping[str, Path],
) -> tuple[Upload, ...]:
    """Upload each requested APK this agent holds; a failed upload is recorded, not raised
    (the server asks again at the next inventory change or apk-requests call)."""
    done = []
    for sha256 in requested:
        path = files.get(sha256)
        if path is None:
            continue
        try:
            answer = client.upload_apk(device_id, sha256, path.read_bytes())
            done.append(Upload(sha256, str(answer.get("verdict", ""))))
        except (AgentError, OSError) as e:
            done.append(Upload(sha256, "", str(e)))
    return tuple(done)
