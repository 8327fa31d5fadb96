"""The attestation verifiers this server runs, configured once from the settings.

Which evidence a device is asked for follows from the settings: every Android device can give
Android Key Attestation; Play Integrity needs the app's self-managed keys and package name;
App Attest needs the iOS agent's app ids. A roots file that cannot be read stops the server at
start with the reason, rather than failing every device later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from openmtd.config import Settings
from openmtd.domain.enums import Platform
from openmtd.engines.integrity.app_attest import AppAttestPolicy
from openmtd.engines.integrity.key_attestation import KeyAttestationPolicy
from openmtd.engines.integrity.play_integrity import PlayIntegrityKeys, PlayIntegrityPolicy
from openmtd.engines.integrity.roots import (
    anchors_from_pem,
    apple_app_attest_anchors,
    google_key_attestation_anchors,
)
from openmtd.engines.integrity.x509chain import TrustAnchors
from openmtd.server.integrity.revocation_source import RevocationSource


class EvidenceKind(StrEnum):
    """What an agent can submit against a challenge."""

    ANDROID_KEY = "android_key"
    PLAY_INTEGRITY = "play_integrity"
    APP_ATTEST = "app_attest"
    APP_ATTEST_ASSERTION = "app_attest_assertion"

    @property
    def platform(self) -> Platform:
        return Platform.ANDROID if self in _ANDROID_KINDS else Platform.IOS


_ANDROID_KINDS = (EvidenceKind.ANDROID_KEY, EvidenceKind.PLAY_INTEGRITY)


class ConfigurationError(Exception):
    """A setting names something unusable; the message says which and why."""


def _anchors(path: Path | None, bundled: TrustAnchors, setting: str) -> TrustAnchors:
    if path is None:
        return bundled
    try:
        return anchors_from_pem(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ConfigurationError(f"{setting}={path}: {e}") from e


@dataclass
class IntegrityVerifiers:
    android_anchors: TrustAnchors
    revocation: RevocationSource
    allowed_packages: frozenset[str]
    allowed_signers: frozenset[str]
    play: tuple[PlayIntegrityKeys, PlayIntegrityPolicy] | None
    app_attest: AppAttestPolicy | None
    challenge_ttl: timedelta
    interval: timedelta
    compromised_response: str
    _kinds: dict[Platform, tuple[EvidenceKind, ...]] = field(init=False)

    def __post_init__(self) -> None:
        android = [EvidenceKind.ANDROID_KEY]
        if self.play is not None:
            android.append(EvidenceKind.PLAY_INTEGRITY)
        ios = [EvidenceKind.APP_ATTEST] if self.app_attest is not None else []
        self._kinds = {Platform.ANDROID: tuple(android), Platform.IOS: tuple(ios)}

    @classmethod
    def from_settings(cls, settings: Settings) -> IntegrityVerifiers:
        android = _anchors(
            settings.android_attestation_roots_file,
            google_key_attestation_anchors(),
            "android_attestation_roots_file",
        )
        play = None
        if settings.play_integrity_package:
            try:
                keys = PlayIntegrityKeys.from_base64(
                    settings.play_integrity_decryption_key.get_secret_value(),
                    settings.play_integrity_verification_key,
                )
            except ValueError as e:
                raise ConfigurationError(f"play_integrity keys: {e}") from e
            try:
                policy = PlayIntegrityPolicy(
                    package_name=settings.play_integrity_package,
                    certificate_sha256=frozenset(settings.play_integrity_certificate_sha256),
                )
            except ValueError as e:
                raise ConfigurationError(f"play_integrity_certificate_sha256: {e}") from e
            play = (keys, policy)
        app_attest = None
        if settings.app_attest_app_ids:
            app_attest = AppAttestPolicy(
                anchors=_anchors(
                    settings.app_attest_roots_file,
                    apple_app_attest_anchors(),
                    "app_attest_roots_file",
                ),
                app_ids=frozenset(settings.app_attest_app_ids),
                allow_development=settings.app_attest_allow_development,
            )
        return cls(
            android_anchors=android,
            revocation=RevocationSource(
                settings.android_revocation_source,
                cache_file=settings.data_dir / "integrity" / "status.json",
                refresh=timedelta(hours=settings.android_revocation_refresh_hours),
            ),
            allowed_packages=frozenset(settings.android_allowed_packages),
            allowed_signers=frozenset(s.lower() for s in settings.android_allowed_signers),
            play=play,
            app_attest=app_attest,
            challenge_ttl=timedelta(seconds=settings.integrity_challenge_seconds),
            interval=timedelta(hours=settings.attestation_interval_hours),
            compromised_response=settings.compromised_device_response,
        )

    def kinds(self, platform: Platform) -> tuple[EvidenceKind, ...]:
        """The evidence the server asks devices of this platform for."""
        return self._kinds[platform]

    def accepts(self, kind: EvidenceKind, platform: Platform) -> bool:
        if kind is EvidenceKind.APP_ATTEST_ASSERTION:
            return self.app_attest is not None and platform is Platform.IOS
        return kind in self._kinds[platform]

    def key_attestation_policy(self, now: datetime) -> tuple[KeyAttestationPolicy, str]:
        snapshot = self.revocation.snapshot(now)
        policy = KeyAttestationPolicy(
            anchors=self.android_anchors,
            revocations=snapshot.revocations,
            allowed_packages=self.allowed_packages,
            allowed_signer_sha256=self.allowed_signers,
        )
        return policy, snapshot.status

    def responds_to_compromise(self, platform: Platform) -> bool:
        """Whether the agent stops web protection and clears its data when compromised."""
        if self.compromised_response == "all":
            return True
        return self.compromised_response == "ios" and platform is Platform.IOS

    @property
    def findings_max_age(self) -> timedelta:
        return self.interval * 3
