"""Closed sets of the product: platforms, scenarios, severities, risk levels, roles."""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"


class EnrollmentScenario(StrEnum):
    """Every enrollment scenario the reference product's tables name, supported or not."""

    ANDROID_WORK_PROFILE = "android-work-profile"
    ANDROID_PERSONAL_PROFILE = "android-personal-profile"
    ANDROID_COPE = "android-cope"
    ANDROID_CORPORATE_PERSONAL_PROFILE = "android-corporate-personal-profile"
    ANDROID_COBO = "android-cobo"
    ANDROID_COSU = "android-cosu"
    ANDROID_MAM = "android-mam"
    ANDROID_DEVICE_ADMIN = "android-device-admin"
    ANDROID_AOSP = "android-aosp"
    IOS_SUPERVISED = "ios-supervised"
    IOS_DEVICE_ENROLLMENT = "ios-device-enrollment"
    IOS_USER_ENROLLMENT = "ios-user-enrollment"
    IOS_MAM = "ios-mam"
    IOS_SHARED = "ios-shared"


class ProtectionScope(StrEnum):
    WORK_PROFILE = "work-profile"
    PERSONAL_PROFILE = "personal-profile"
    ENTIRE_DEVICE = "entire-device"
    ENROLLED_APPS = "enrolled-apps"
    WORK_DATA = "work-data"


class OnboardingMode(StrEnum):
    """How much the person holding the device has to do to onboard."""

    ZERO_TOUCH = "zero-touch"  # silent, no user interaction
    LOW_TOUCH = "low-touch"  # a single confirmation
    MANUAL = "manual"  # the user enters or confirms each step


class Severity(StrEnum):
    INFORMATIONAL = "Informational"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFORMATIONAL: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
}


class RiskLevel(StrEnum):
    """Device threat level; the conditional-launch log encodes it 1..4."""

    SECURED = "Secured"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"

    @property
    def rank(self) -> int:
        return _RISK_RANK[self]

    @property
    def code(self) -> int:
        return self.rank + 1


_RISK_RANK = {RiskLevel.SECURED: 0, RiskLevel.LOW: 1, RiskLevel.MEDIUM: 2, RiskLevel.HIGH: 3}


class AlertStatus(StrEnum):
    NEW = "New"
    IN_PROGRESS = "InProgress"
    RESOLVED = "Resolved"

    @property
    def is_active(self) -> bool:
        return self is not AlertStatus.RESOLVED


class AlertClassification(StrEnum):
    UNKNOWN = "Unknown"
    TRUE_POSITIVE = "TruePositive"
    INFORMATIONAL_EXPECTED = "InformationalExpectedActivity"
    FALSE_POSITIVE = "FalsePositive"


class Role(StrEnum):
    """Console roles, each including the rights of the ones below it."""

    READ_ONLY = "read-only"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_ROLE_RANK = {Role.READ_ONLY: 0, Role.ANALYST: 1, Role.ADMIN: 2}


class InstallSource(StrEnum):
    STORE = "store"  # Google Play / App Store
    MANAGED = "managed"  # pushed by the MDM
    SIDELOADED = "sideloaded"
    SYSTEM = "system"  # preinstalled
    UNKNOWN = "unknown"
