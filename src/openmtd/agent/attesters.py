"""Attesters for the simulated agent: the software stand-ins behind the `Attester` protocol.

On a phone, evidence comes from the platform (Android Keystore, Play Integrity, App Attest).
The simulator, the tests and the benchmark use the stand-ins of agent.attest, which build real
evidence (certificate chains, JWE tokens, CBOR attestation objects) with test keys that a test
server is configured to trust.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openmtd.agent.attest.android_keystore import AttestationCA
from openmtd.agent.attest.apple_app_attest import SoftwareAppAttest
from openmtd.agent.attest.play_integrity_issuer import PlayIntegrityIssuer, verdict_payload
from openmtd.agent.integrity import Attester, b64


@dataclass
class KeystoreAttester:
    """Android Key Attestation from a software keystore; `attributes` shape the attested key
    (security_level, verified_boot_state, device_locked, os_version, os_patch_level ...)."""

    ca: AttestationCA
    attributes: Mapping[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ("android_key",)

    def evidence(self, kind: str, challenge: bytes, *, now: datetime) -> dict[str, Any]:
        chain = self.ca.attest(challenge, now=now, **dict(self.attributes))
        return {"chain": [b64(der) for der in chain]}

    def accepted(self, kind: str) -> None:
        return None


@dataclass
class PlayIntegrityAttester:
    """Play Integrity tokens from a stand-in for Google's side, with the given labels."""

    issuer: PlayIntegrityIssuer
    package_name: str
    certificate_sha256: str
    labels: tuple[str, ...] = ("MEETS_BASIC_INTEGRITY", "MEETS_DEVICE_INTEGRITY")
    kinds: tuple[str, ...] = ("play_integrity",)

    def evidence(self, kind: str, challenge: bytes, *, now: datetime) -> dict[str, Any]:
        payload = verdict_payload(
            challenge=challenge,
            package_name=self.package_name,
            certificate_sha256=self.certificate_sha256,
            labels=self.labels,
            now=now,
        )
        return {"token": self.issuer.token(payload)}

    def accepted(self, kind: str) -> None:
        return None


@dataclass
class AppAttestAttester:
    """App Attest: one key attested once, then an assertion for every later request."""

    service: SoftwareAppAttest
    key_id: bytes = b""
    kinds: tuple[str, ...] = ("app_attest", "app_attest_assertion")

    def evidence(self, kind: str, challenge: bytes, *, now: datetime) -> dict[str, Any]:
        if kind == "app_attest":
            self.key_id = self.service.generate_key()
            attestation = self.service.attest_key(self.key_id, challenge, now=now)
            return {"key_id": b64(self.key_id), "attestation": b64(attestation)}
        assertion, client_data = self.service.assert_request(self.key_id, challenge)
        return {
            "key_id": b64(self.key_id),
            "assertion": b64(assertion),
            "client_data": b64(client_data),
        }

    def accepted(self, kind: str) -> None:
        return None


def by_kind(*attesters: Attester) -> dict[str, Attester]:
    """The mapping run_once takes: each kind to the attester that gives it."""
    return {kind: a for a in attesters for kind in a.kinds}
