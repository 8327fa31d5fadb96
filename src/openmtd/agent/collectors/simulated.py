"""The simulated collector: realistic, deterministic device facts for every supported scenario.

Demos, tests and fleet benchmarks need devices that look like the ones a real fleet reports:
real makers and models, OS versions and security patch levels that fit the model and the date,
build strings in each maker's format, and the app inventory that the enrollment scenario lets
the agent see (a work profile shows work apps, a personal profile the owner's apps, MAM and iOS
user enrollment only the managed apps). Everything is drawn from the tables below with
``random.Random(f"{profile}:{seed}")``, so ``(profile, seed, today)`` always gives the same
device. App hashes are derived from the app itself (identifier, version, publisher), so one app
has one hash across the whole fleet, as it does in the real world.

A profile is named after its enrollment scenario (``"android-work-profile"``,
``"ios-supervised"`` …); there is one for every supported scenario and none for the others.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from openmtd.domain.device import AppInfo, DeviceFacts, IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform
from openmtd.enrollment.scenarios import SCENARIOS, supported_scenarios

__all__ = ["PROFILES", "SimulatedDevice", "simulate", "simulate_fleet", "with_changes"]

PROFILES: dict[str, EnrollmentScenario] = {
    spec.scenario.value: spec.scenario for spec in supported_scenarios()
}

#: The tables start in late 2023; an earlier `today` would have no consistent device to offer.
EARLIEST_TODAY = date(2024, 1, 1)
#: Patch levels and OS releases are drawn from this many months before `today`.
PATCH_WINDOW_MONTHS = 18


@dataclass(frozen=True)
class SimulatedDevice:
    """One simulated device at one check-in."""

    profile: str
    hardware_id: str  # 32 hex digits, stable for (profile, seed), like a hashed serial number
    facts: DeviceFacts
    integrity_signals: tuple[IntegritySignal, ...]
    name: str  # "Pixel 8 Pro of a.rossi"


# --------------------------------------------------------------------------------------------
# Android hardware and software
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AndroidModel:
    manufacturer: str  # android.os.Build.MANUFACTURER, spelled as the maker spells it
    name: str  # marketing name
    code: str  # Build.MODEL where it differs from the marketing name (Samsung), else ""
    launched: date
    launch_os: int  # Android major version the device shipped with
    last_os: int  # last major version the maker promised

    @property
    def model(self) -> str:
        return f"{self.name} ({self.code})" if self.code else self.name


_AM = _AndroidModel
_ANDROID_MODELS: tuple[_AndroidModel, ...] = (
    _AM("Google", "Pixel 6", "", date(2021, 10, 28), 12, 17),
    _AM("Google", "Pixel 6 Pro", "", date(2021, 10, 28), 12, 17),
    _AM("Google", "Pixel 6a", "", date(2022, 7, 28), 12, 17),
    _AM("Google", "Pixel 7", "", date(2022, 10, 13), 13, 18),
    _AM("Google", "Pixel 7 Pro", "", date(2022, 10, 13), 13, 18),
    _AM("Google", "Pixel 7a", "", date(2023, 5, 10), 13, 18),
    _AM("Google", "Pixel Fold", "", date(2023, 6, 27), 13, 18),
    _AM("Google", "Pixel 8", "", date(2023, 10, 12), 14, 21),
    _AM("Google", "Pixel 8 Pro", "", date(2023, 10, 12), 14, 21),
    _AM("Google", "Pixel 8a", "", date(2024, 5, 14), 14, 21),
    _AM("Google", "Pixel 9", "", date(2024, 8, 22), 14, 21),
    _AM("Google", "Pixel 9 Pro", "", date(2024, 8, 22), 14, 21),
    _AM("Google", "Pixel 9 Pro XL", "", date(2024, 8, 22), 14, 21),
    _AM("Google", "Pixel 9 Pro Fold", "", date(2024, 9, 4), 14, 21),
    _AM("Google", "Pixel 9a", "", date(2025, 4, 10), 15, 22),
    _AM("Google", "Pixel 10", "", date(2025, 8, 28), 16, 23),
    _AM("Google", "Pixel 10 Pro", "", date(2025, 8, 28), 16, 23),
    _AM("samsung", "Galaxy S22", "SM-S901B", date(2022, 2, 25), 12, 16),
    _AM("samsung", "Galaxy S22+", "SM-S906B", date(2022, 2, 25), 12, 16),
    _AM("samsung", "Galaxy S22 Ultra", "SM-S908B", date(2022, 2, 25), 12, 16),
    _AM("samsung", "Galaxy S23", "SM-S911B", date(2023, 2, 17), 13, 17),
    _AM("samsung", "Galaxy S23+", "SM-S916B", date(2023, 2, 17), 13, 17),
    _AM("samsung", "Galaxy S23 Ultra", "SM-S918B", date(2023, 2, 17), 13, 17),
    _AM("samsung", "Galaxy S23 FE", "SM-S711B", date(2023, 10, 26), 13, 17),
    _AM("samsung", "Galaxy S24", "SM-S921B", date(2024, 1, 31), 14, 21),
    _AM("samsung", "Galaxy S24+", "SM-S926B", date(2024, 1, 31), 14, 21),
    _AM("samsung", "Galaxy S24 Ultra", "SM-S928B", date(2024, 1, 31), 14, 21),
    _AM("samsung", "Galaxy S24 FE", "SM-S721B", date(2024, 10, 3), 14, 21),
    _AM("samsung", "Galaxy S25", "SM-S931B", date(2025, 2, 7), 15, 22),
    _AM("samsung", "Galaxy S25+", "SM-S936B", date(2025, 2, 7), 15, 22),
    _AM("samsung", "Galaxy S25 Ultra", "SM-S938B", date(2025, 2, 7), 15, 22),
    _AM("samsung", "Galaxy S25 Edge", "SM-S937B", date(2025, 5, 30), 15, 22),
    _AM("samsung", "Galaxy A34 5G", "SM-A346B", date(2023, 3, 24), 13, 17),
    _AM("samsung", "Galaxy A54 5G", "SM-A546B", date(2023, 3, 24), 13, 17),
    _AM("samsung", "Galaxy A15 5G", "SM-A156B", date(2023, 12, 16), 14, 18),
    _AM("samsung", "Galaxy A25 5G", "SM-A256B", date(2023, 12, 16), 14, 18),
    _AM("samsung", "Galaxy A35 5G", "SM-A356B", date(2024, 3, 20), 14, 18),
    _AM("samsung", "Galaxy A55 5G", "SM-A556B", date(2024, 3, 20), 14, 18),
    _AM("samsung", "Galaxy A16 5G", "SM-A166B", date(2024, 11, 1), 14, 20),
    _AM("samsung", "Galaxy A36 5G", "SM-A366B", date(2025, 3, 19), 15, 21),
    _AM("samsung", "Galaxy A56 5G", "SM-A566B", date(2025, 3, 19), 15, 21),
    _AM("motorola", "motorola edge 40", "", date(2023, 5, 4), 13, 15),
    _AM("motorola", "motorola razr 40 ultra", "", date(2023, 6, 1), 13, 15),
    _AM("motorola", "moto g54 5G", "", date(2023, 9, 5), 13, 14),
    _AM("motorola", "moto g84 5G", "", date(2023, 9, 19), 13, 14),
    _AM("motorola", "motorola edge 50 pro", "", date(2024, 4, 16), 14, 17),
    _AM("motorola", "moto g85 5G", "", date(2024, 7, 9), 14, 15),
    _AM("Xiaomi", "Xiaomi 13T", "", date(2023, 9, 26), 13, 17),
    _AM("Xiaomi", "Xiaomi 13T Pro", "", date(2023, 9, 26), 13, 17),
    _AM("Xiaomi", "Redmi Note 13 5G", "", date(2024, 1, 15), 13, 15),
    _AM("Xiaomi", "Redmi Note 13 Pro 5G", "", date(2024, 1, 15), 13, 16),
    _AM("Xiaomi", "Xiaomi 14", "", date(2024, 2, 25), 14, 18),
    _AM("Xiaomi", "Xiaomi 14T", "", date(2024, 9, 26), 14, 18),
    _AM("Xiaomi", "Redmi Note 14 Pro 5G", "", date(2025, 1, 10), 14, 17),
    _AM("OnePlus", "OnePlus 11", "", date(2023, 2, 7), 13, 16),
    _AM("OnePlus", "OnePlus Nord 3", "", date(2023, 7, 5), 13, 15),
    _AM("OnePlus", "OnePlus 12", "", date(2024, 1, 23), 14, 18),
    _AM("OnePlus", "OnePlus Nord 4", "", date(2024, 7, 16), 14, 18),
    _AM("OnePlus", "OnePlus 13", "", date(2025, 1, 7), 15, 19),
)

#: Rough share of each maker in a European/US corporate Android fleet.
_MANUFACTURER_SHARE: dict[str, float] = {
    "samsung": 0.42,
    "Google": 0.26,
    "Xiaomi": 0.13,
    "motorola": 0.10,
    "OnePlus": 0.09,
}

#: Month in which each Android major version reached the first (Pixel) devices.
_ANDROID_RELEASED: dict[int, date] = {
    12: date(2021, 10, 1),
    13: date(2022, 8, 1),
    14: date(2023, 10, 1),
    15: date(2024, 10, 1),
    16: date(2025, 6, 1),
}
LATEST_ANDROID = max(_ANDROID_RELEASED)
#: How many months after the Pixels each maker typically ships a major upgrade.
_OEM_UPGRADE_DELAY_MONTHS: dict[str, int] = {
    "Google": 0,
    "samsung": 3,
    "OnePlus": 3,
    "Xiaomi": 4,
    "motorola": 5,
}
#: A device stays on an older major version for at most this long after the next one is offered.
_UPGRADE_LAG_MONTHS = 15

#: Pixel build branches: (major, first month, prefix of the build id, as in "AP2A.240805.005").
_PIXEL_BRANCHES: tuple[tuple[int, date, str], ...] = (
    (12, date(2021, 10, 1), "SP1A"),
    (12, date(2021, 12, 1), "SQ1A"),
    (12, date(2022, 3, 1), "SP2A"),
    (12, date(2022, 6, 1), "SQ3A"),
    (13, date(2022, 8, 1), "TP1A"),
    (13, date(2022, 12, 1), "TQ1A"),
    (13, date(2023, 3, 1), "TQ2A"),
    (13, date(2023, 6, 1), "TQ3A"),
    (14, date(2023, 10, 1), "UP1A"),
    (14, date(2023, 12, 1), "UQ1A"),
    (14, date(2024, 3, 1), "AP1A"),
    (14, date(2024, 6, 1), "AP2A"),
    (15, date(2024, 10, 1), "AP3A"),
    (15, date(2024, 12, 1), "AP4A"),
    (15, date(2025, 3, 1), "BP1A"),
    (16, date(2025, 6, 1), "BP2A"),
    (16, date(2025, 9, 1), "BP3A"),
    (16, date(2025, 12, 1), "BP4A"),
)
#: Build ids of the AOSP base that Xiaomi, OnePlus and Motorola builds keep for a major version.
_OEM_BUILD_IDS: dict[int, str] = {
    12: "SKQ1.211006.001",
    13: "TKQ1.221114.001",
    14: "UKQ1.230917.001",
    15: "AQ3A.240912.001",
    16: "BP2A.250605.031",
}
#: Weight of a patch level being 0, 1, 2 … months old (index = age in months).
_PATCH_AGE_WEIGHTS: tuple[float, ...] = (
    (22, 26, 16, 10, 5, 4, 3) + (1.5,) * 6 + (0.6,) * 6  # 0..18 months
)
assert len(_PATCH_AGE_WEIGHTS) == PATCH_WINDOW_MONTHS + 1

# --------------------------------------------------------------------------------------------
# iOS hardware and software
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _IPhone:
    identifier: str  # ProductType, "iPhone16,1"
    name: str
    launched: date
    min_ios: tuple[int, ...] = (0,)  # the version it shipped with, where the tables reach it
    weight: float = 1.0

    @property
    def model(self) -> str:
        return f"{self.name} ({self.identifier})"


_IPHONES: tuple[_IPhone, ...] = (
    _IPhone("iPhone13,1", "iPhone 12 mini", date(2020, 11, 13), weight=0.3),
    _IPhone("iPhone13,2", "iPhone 12", date(2020, 10, 23), weight=0.8),
    _IPhone("iPhone13,3", "iPhone 12 Pro", date(2020, 10, 23), weight=0.5),
    _IPhone("iPhone13,4", "iPhone 12 Pro Max", date(2020, 11, 13), weight=0.4),
    _IPhone("iPhone14,4", "iPhone 13 mini", date(2021, 9, 24), weight=0.4),
    _IPhone("iPhone14,5", "iPhone 13", date(2021, 9, 24), weight=1.2),
    _IPhone("iPhone14,2", "iPhone 13 Pro", date(2021, 9, 24), weight=0.7),
    _IPhone("iPhone14,3", "iPhone 13 Pro Max", date(2021, 9, 24), weight=0.6),
    _IPhone("iPhone14,6", "iPhone SE (3rd generation)", date(2022, 3, 18), weight=0.6),
    _IPhone("iPhone14,7", "iPhone 14", date(2022, 9, 16), weight=1.2),
    _IPhone("iPhone14,8", "iPhone 14 Plus", date(2022, 10, 7), weight=0.4),
    _IPhone("iPhone15,2", "iPhone 14 Pro", date(2022, 9, 16), weight=0.8),
    _IPhone("iPhone15,3", "iPhone 14 Pro Max", date(2022, 9, 16), weight=0.7),
    _IPhone("iPhone15,4", "iPhone 15", date(2023, 9, 22), (17, 0), 1.4),
    _IPhone("iPhone15,5", "iPhone 15 Plus", date(2023, 9, 22), (17, 0), 0.5),
    _IPhone("iPhone16,1", "iPhone 15 Pro", date(2023, 9, 22), (17, 0), 1.0),
    _IPhone("iPhone16,2", "iPhone 15 Pro Max", date(2023, 9, 22), (17, 0), 0.9),
    _IPhone("iPhone17,3", "iPhone 16", date(2024, 9, 20), (18, 0), 1.4),
    _IPhone("iPhone17,4", "iPhone 16 Plus", date(2024, 9, 20), (18, 0), 0.5),
    _IPhone("iPhone17,1", "iPhone 16 Pro", date(2024, 9, 20), (18, 0), 1.0),
    _IPhone("iPhone17,2", "iPhone 16 Pro Max", date(2024, 9, 20), (18, 0), 0.9),
    _IPhone("iPhone17,5", "iPhone 16e", date(2025, 2, 28), (18, 3), 0.8),
    _IPhone("iPhone18,3", "iPhone 17", date(2025, 9, 19), (26, 0), 1.2),
    _IPhone("iPhone18,1", "iPhone 17 Pro", date(2025, 9, 19), (26, 0), 0.9),
    _IPhone("iPhone18,2", "iPhone 17 Pro Max", date(2025, 9, 19), (26, 0), 0.8),
    _IPhone("iPhone18,4", "iPhone Air", date(2025, 9, 19), (26, 0), 0.4),
)


@dataclass(frozen=True, slots=True)
class _IOSRelease:
    version: str
    build: str
    released: date

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version.split("."))


#: iOS releases for iPhone with their build numbers (Apple's release notes, SOFA feed).
_IOS_RELEASES: tuple[_IOSRelease, ...] = tuple(
    _IOSRelease(v, b, date.fromisoformat(d))
    for v, b, d in (
        ("17.0", "21A329", "2023-09-18"),
        ("17.0.1", "21A340", "2023-09-21"),
        ("17.0.2", "21A350", "2023-09-21"),
        ("17.0.3", "21A360", "2023-10-04"),
        ("17.1", "21B80", "2023-10-25"),
        ("17.1.1", "21B91", "2023-11-07"),
        ("17.1.2", "21B101", "2023-11-30"),
        ("17.2", "21C62", "2023-12-11"),
        ("17.2.1", "21C66", "2023-12-19"),
        ("17.3", "21D50", "2024-01-22"),
        ("17.3.1", "21D61", "2024-02-08"),
        ("17.4", "21E219", "2024-03-05"),
        ("17.4.1", "21E236", "2024-03-21"),
        ("17.5", "21F79", "2024-05-13"),
        ("17.5.1", "21F90", "2024-05-20"),
        ("17.6", "21G80", "2024-07-29"),
        ("17.6.1", "21G93", "2024-08-07"),
        ("17.7", "21H16", "2024-09-16"),
        ("17.7.1", "21H216", "2024-10-28"),
        ("17.7.2", "21H221", "2024-11-19"),
        ("18.0", "22A3354", "2024-09-16"),
        ("18.0.1", "22A3370", "2024-10-03"),
        ("18.1", "22B83", "2024-10-28"),
        ("18.1.1", "22B91", "2024-11-19"),
        ("18.2", "22C152", "2024-12-11"),
        ("18.2.1", "22C161", "2025-01-06"),
        ("18.3", "22D63", "2025-01-27"),
        ("18.3.1", "22D72", "2025-02-10"),
        ("18.3.2", "22D82", "2025-03-11"),
        ("18.4", "22E240", "2025-03-31"),
        ("18.4.1", "22E252", "2025-04-16"),
        ("18.5", "22F76", "2025-05-12"),
        ("18.6", "22G86", "2025-07-29"),
        ("18.6.1", "22G90", "2025-08-14"),
        ("18.6.2", "22G100", "2025-08-20"),
        ("18.7", "22H20", "2025-09-15"),
        ("18.7.1", "22H31", "2025-09-29"),
        ("18.7.8", "22H352", "2026-04-22"),
        ("18.7.9", "22H355", "2026-05-11"),
        ("18.7.10", "22H374", "2026-08-17"),
        ("26.0", "23A341", "2025-09-15"),
        ("26.0.1", "23A355", "2025-09-29"),
        ("26.1", "23B85", "2025-11-03"),
        ("26.2", "23C55", "2025-12-12"),
        ("26.5", "23F77", "2026-05-11"),
        ("26.5.2", "23F84", "2026-06-29"),
        ("26.6", "23G71", "2026-07-27"),
        ("26.6.1", "23G83", "2026-08-17"),
    )
)

# --------------------------------------------------------------------------------------------
# Apps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CatalogApp:
    identifier: str
    name: str
    publisher: str  # one signing key per publisher, as on Google Play
    versions: tuple[str, ...]  # oldest first; devices mostly run the newest
    mam: bool = False  # carries an app-protection (MAM) SDK


_A = _CatalogApp

_ANDROID_PORTAL = _A(
    "com.microsoft.windowsintune.companyportal",
    "Intune Company Portal",
    "microsoft",
    ("5.0.6320.0", "5.0.6437.0", "5.0.6551.0"),
    mam=True,
)
_OFFICE_ANDROID = ("16.0.17928.20114", "16.0.18025.20104", "16.0.18324.20092")
_ANDROID_WORK: tuple[_CatalogApp, ...] = (
    _A(
        "com.microsoft.teams",
        "Microsoft Teams",
        "microsoft",
        ("1416/1.0.0.2024071501", "1416/1.0.0.2024092302", "1416/1.0.0.2025011603"),
        mam=True,
    ),
    _A(
        "com.microsoft.office.outlook",
        "Outlook",
        "microsoft",
        ("4.2425.1", "4.2439.0", "4.2503.2"),
        mam=True,
    ),
    _A("com.microsoft.office.word", "Word", "microsoft", _OFFICE_ANDROID, mam=True),
    _A("com.microsoft.office.excel", "Excel", "microsoft", _OFFICE_ANDROID, mam=True),
    _A("com.microsoft.office.powerpoint", "PowerPoint", "microsoft", _OFFICE_ANDROID, mam=True),
    _A("com.microsoft.office.onenote", "OneNote", "microsoft", _OFFICE_ANDROID, mam=True),
    _A("com.microsoft.skydrive", "OneDrive", "microsoft", ("7.11", "7.14", "7.18"), mam=True),
    _A(
        "com.microsoft.emmx",
        "Microsoft Edge",
        "microsoft",
        ("127.0.2651.102", "128.0.2739.79", "131.0.2903.87"),
        mam=True,
    ),
    _A("com.microsoft.todos", "Microsoft To Do", "microsoft", ("2.132.755.01", "2.138.1021.01")),
    _A(
        "com.azure.authenticator",
        "Microsoft Authenticator",
        "microsoft",
        ("6.2407.4713", "6.2408.5328", "6.2410.6937"),
    ),
    _A(
        "com.adobe.reader",
        "Adobe Acrobat Reader",
        "adobe",
        ("24.7.0.34516", "24.9.0.35421"),
        mam=True,
    ),
    _A(
        "com.google.android.apps.docs",
        "Google Drive",
        "google",
        ("2.24.307.0", "2.24.347.0", "2.25.037.0"),
    ),
    _A(
        "com.google.android.apps.docs.editors.docs",
        "Google Docs",
        "google",
        ("1.24.302.02.90", "1.24.442.00.90"),
    ),
    _A(
        "com.google.android.apps.docs.editors.sheets",
        "Google Sheets",
        "google",
        ("1.24.302.01.90", "1.24.442.01.90"),
    ),
    _A(
        "com.google.android.calendar",
        "Google Calendar",
        "google",
        ("2024.33.0-661370632-release", "2024.45.1-695563925-release"),
    ),
    _A("com.slack", "Slack", "slack", ("24.08.10.0", "24.10.20.0", "25.01.10.0")),
    _A("com.salesforce.chatter", "Salesforce", "salesforce", ("250.020", "252.010")),
    _A("com.okta.android.auth", "Okta Verify", "okta", ("9.17.0", "9.22.0")),
    _A("com.cisco.webex.meetings", "Webex Meetings", "cisco", ("44.7.0", "44.10.1")),
    _A("us.zoom.videomeetings", "Zoom Workplace", "zoom", ("6.1.11.22474", "6.2.5.24166")),
    _A(
        "com.atlassian.android.jira.core",
        "Jira Cloud",
        "atlassian",
        ("2024.08.19.1", "2024.10.14.2"),
    ),
    _A(
        "com.atlassian.android.confluence.core",
        "Confluence Cloud",
        "atlassian",
        ("2024.09.02.1", "2024.11.04.1"),
    ),
    _A("com.workday.workdroidapp", "Workday", "workday", ("2024.34.0", "2024.40.2")),
    _A("com.docusign.ink", "Docusign", "docusign", ("6.23.0", "6.25.1")),
    _A("com.box.android", "Box", "box", ("5.42.2", "5.45.0")),
    _A("com.concur.breeze", "SAP Concur", "sap", ("9.98.0", "9.104.1")),
    _A(
        "com.paloaltonetworks.globalprotect",
        "GlobalProtect",
        "paloaltonetworks",
        ("6.1.6-30", "6.2.3-37"),
    ),
)
_ANDROID_PERSONAL: tuple[_CatalogApp, ...] = (
    _A("com.whatsapp", "WhatsApp", "meta-whatsapp", ("2.24.15.78", "2.24.19.86", "2.25.1.77")),
    _A("com.instagram.android", "Instagram", "meta", ("343.0.0.33.101", "355.0.0.41.101")),
    _A("com.facebook.katana", "Facebook", "meta", ("478.0.0.41.86", "490.0.0.63.82")),
    _A("com.facebook.orca", "Messenger", "meta", ("470.0.0.47.108", "484.0.0.55.109")),
    _A("com.spotify.music", "Spotify", "spotify", ("8.9.76.538", "8.9.86.551", "9.0.2.456")),
    _A("org.telegram.messenger", "Telegram", "telegram", ("11.0.0", "11.2.3", "11.5.3")),
    _A("org.thoughtcrime.securesms", "Signal", "signal", ("7.16.4", "7.25.2")),
    _A(
        "com.netflix.mediaclient",
        "Netflix",
        "netflix",
        ("8.128.0 build 10 50657", "8.140.0 build 5 50685"),
    ),
    _A("com.zhiliaoapp.musically", "TikTok", "bytedance", ("36.5.4", "37.8.3")),
    _A("com.twitter.android", "X", "x", ("10.55.0-release.0", "10.70.0-release.0")),
    _A("com.snapchat.android", "Snapchat", "snap", ("13.5.0.45", "13.14.0.46")),
    _A("com.linkedin.android", "LinkedIn", "linkedin", ("4.1.970", "4.1.1009")),
    _A("com.pinterest", "Pinterest", "pinterest", ("12.33.0", "12.42.0")),
    _A("com.reddit.frontpage", "Reddit", "reddit", ("2024.33.0", "2024.45.0")),
    _A("com.discord", "Discord", "discord", ("242.20 - Stable", "254.14 - Stable")),
    _A("com.openai.chatgpt", "ChatGPT", "openai", ("1.2024.233", "1.2024.310")),
    _A(
        "com.amazon.mShop.android.shopping",
        "Amazon Shopping",
        "amazon",
        ("28.16.0.100", "28.20.2.100"),
    ),
    _A("com.ubercab", "Uber", "uber", ("4.532.10002", "4.545.10001")),
    _A("com.airbnb.android", "Airbnb", "airbnb", ("24.34", "24.45")),
    _A("com.booking", "Booking.com", "booking", ("48.3", "49.7")),
    _A("com.duolingo", "Duolingo", "duolingo", ("5.165.4", "5.180.3")),
    _A("com.strava", "Strava", "strava", ("372.10", "380.9")),
    _A("com.waze", "Waze", "google", ("4.107.1.0", "5.0.0.2")),
    _A("com.shazam.android", "Shazam", "apple", ("14.32.0-240808", "14.44.0-241017")),
    _A("com.paypal.android.p2pmobile", "PayPal", "paypal", ("8.66.0", "8.72.1")),
    _A("com.revolut.revolut", "Revolut", "revolut", ("10.45", "10.58")),
    _A("de.number26.android", "N26", "n26", ("4.28.0", "4.33.1")),
    _A("com.chase.sig.android", "Chase", "chase", ("5.14.0", "5.22.0")),
    _A("uk.co.hsbc.hsbcukmobilebanking", "HSBC UK", "hsbc", ("3.52.0", "3.57.0")),
    _A(
        "com.barclays.android.barclaysmobilebanking",
        "Barclays",
        "barclays",
        ("6.18.0", "6.22.0"),
    ),
)
_CHROMIUM = ("127.0.6533.103", "131.0.6778.104")
#: Google Mobile Services apps on every certified Android device; the first four are also
#: present inside a work profile.
_ANDROID_GMS: tuple[_CatalogApp, ...] = (
    _A(
        "com.google.android.gms",
        "Google Play services",
        "google",
        ("24.33.13 (190400-663364475)", "24.45.33 (190400-698787133)"),
    ),
    _A(
        "com.android.vending",
        "Google Play Store",
        "google",
        ("42.4.20-31 [0] [PR] 665436282", "43.6.20-31 [0] [PR] 690745385"),
    ),
    _A("com.android.chrome", "Chrome", "google", _CHROMIUM),
    _A("com.google.android.webview", "Android System WebView", "google", _CHROMIUM),
    _A("com.google.android.youtube", "YouTube", "google", ("19.33.35", "19.44.38")),
    _A(
        "com.google.android.gm",
        "Gmail",
        "google",
        ("2024.08.11.663194573.Release", "2024.10.13.684562718.Release"),
    ),
    _A("com.google.android.apps.maps", "Maps", "google", ("11.143.0101", "11.152.0101")),
    _A(
        "com.google.android.apps.photos",
        "Google Photos",
        "google",
        ("6.96.0.664041346", "7.6.0.690123911"),
    ),
    _A(
        "com.google.android.googlequicksearchbox",
        "Google",
        "google",
        ("15.32.37.29.arm64", "15.44.28.29.arm64"),
    ),
)
_WORK_PROFILE_SYSTEM = _ANDROID_GMS[:4]
_ANDROID_OEM_SYSTEM: dict[str, tuple[_CatalogApp, ...]] = {
    "Google": (
        _A(
            "com.google.android.apps.messaging",
            "Messages",
            "google",
            (
                "messages.android_20240812_00_RC02.phone_dynamic",
                "messages.android_20241021_00_RC01.phone_dynamic",
            ),
        ),
        _A("com.google.android.dialer", "Phone", "google", ("143.0.662946254", "151.0.695012783")),
        _A(
            "com.google.android.GoogleCamera",
            "Pixel Camera",
            "google",
            ("9.5.118.662386024.20", "9.6.085.690712843.17"),
        ),
    ),
    "samsung": (
        _A(
            "com.sec.android.app.sbrowser", "Samsung Internet", "samsung", ("26.0.3.1", "27.0.0.71")
        ),
        _A("com.samsung.android.messaging", "Samsung Messages", "samsung", ("15.0.10.33",)),
        _A("com.samsung.android.app.notes", "Samsung Notes", "samsung", ("4.4.21.82",)),
        _A("com.sec.android.app.camera", "Camera", "samsung", ("14.1.01.29",)),
    ),
    "Xiaomi": (
        _A("com.miui.securitycenter", "Security", "xiaomi", ("9.9.5-240425.0.1",)),
        _A("com.miui.gallery", "Gallery", "xiaomi", ("3.6.6.1-global",)),
    ),
    "motorola": (_A("com.motorola.camera3", "Moto Camera", "motorola", ("9.0.87.17",)),),
    "OnePlus": (_A("com.oplus.camera", "Camera", "oneplus", ("5.0.114",)),),
}

_IOS_PORTAL = _A(
    "com.microsoft.CompanyPortal", "Company Portal", "microsoft", ("5.2407.0", "5.2410.1")
)
_OFFICE_IOS = ("2.88", "2.90", "2.93")
_IOS_WORK: tuple[_CatalogApp, ...] = (
    _A(
        "com.microsoft.Office.Outlook",
        "Outlook",
        "microsoft",
        ("4.2427.0", "4.2439.0", "4.2503.1"),
        mam=True,
    ),
    _A(
        "com.microsoft.skype.teams",
        "Microsoft Teams",
        "microsoft",
        ("6.17.1", "6.20.2", "7.1.0"),
        mam=True,
    ),
    _A("com.microsoft.Office.Word", "Word", "microsoft", _OFFICE_IOS, mam=True),
    _A("com.microsoft.Office.Excel", "Excel", "microsoft", _OFFICE_IOS, mam=True),
    _A("com.microsoft.Office.Powerpoint", "PowerPoint", "microsoft", _OFFICE_IOS, mam=True),
    _A("com.microsoft.onenote", "OneNote", "microsoft", ("16.88", "16.90"), mam=True),
    _A("com.microsoft.skydrive", "OneDrive", "microsoft", ("15.16", "15.18"), mam=True),
    _A(
        "com.microsoft.msedge",
        "Microsoft Edge",
        "microsoft",
        ("128.2739.60", "131.2903.65"),
        mam=True,
    ),
    _A("com.microsoft.to-do", "Microsoft To Do", "microsoft", ("2.128", "2.135"), mam=True),
    _A("com.microsoft.azureauthenticator", "Authenticator", "microsoft", ("6.8.13", "6.8.17")),
    _A(
        "com.adobe.Adobe-Reader",
        "Adobe Acrobat Reader",
        "adobe",
        ("24.08.00", "24.10.01"),
        mam=True,
    ),
    _A("com.tinyspeck.chatlyio", "Slack", "slack", ("24.08.10", "24.10.20", "25.01.10")),
    _A("com.salesforce.chatter", "Salesforce", "salesforce", ("250.020", "252.010")),
    _A("com.okta.mobile", "Okta Verify", "okta", ("9.18.0", "9.23.0")),
    _A("us.zoom.videomeetings", "Zoom Workplace", "zoom", ("6.1.10", "6.2.6")),
    _A("com.google.Drive", "Google Drive", "google", ("4.2024.32200", "4.2024.44201")),
    _A("com.google.Docs", "Google Docs", "google", ("1.2024.32200", "1.2024.44202")),
    _A("com.docusign.ink", "Docusign", "docusign", ("6.26.0", "6.28.1")),
    _A("net.box.BoxNet", "Box", "box", ("5.32", "5.40")),
)
_IOS_PERSONAL: tuple[_CatalogApp, ...] = (
    _A("net.whatsapp.WhatsApp", "WhatsApp", "meta", ("24.15.78", "24.19.86", "25.1.77")),
    _A("com.burbn.instagram", "Instagram", "meta", ("343.0.0", "355.0.0")),
    _A("com.facebook.Facebook", "Facebook", "meta", ("478.0", "490.0")),
    _A("com.spotify.client", "Spotify", "spotify", ("8.9.76", "8.9.86", "9.0.2")),
    _A("ph.telegra.Telegraph", "Telegram", "telegram", ("11.0", "11.2.3", "11.5")),
    _A("org.whispersystems.signal", "Signal", "signal", ("7.22", "7.30")),
    _A("com.google.ios.youtube", "YouTube", "google", ("19.33.2", "19.44.4")),
    _A("com.google.chrome.ios", "Chrome", "google", ("127.0.6533.107", "131.0.6778.100")),
    _A("com.google.Maps", "Google Maps", "google", ("24.33.1", "24.44.0")),
    _A("com.netflix.Netflix", "Netflix", "netflix", ("16.39.0", "16.45.1")),
    _A("com.zhiliaoapp.musically", "TikTok", "bytedance", ("36.5.0", "37.8.0")),
    _A("com.atebits.Tweetie2", "X", "x", ("10.55", "10.70")),
    _A("com.toyopagroup.picaboo", "Snapchat", "snap", ("13.5.0", "13.14.0")),
    _A("com.linkedin.LinkedIn", "LinkedIn", "linkedin", ("9.30.3045", "9.30.4200")),
    _A("com.hammerandchisel.discord", "Discord", "discord", ("242.0", "254.0")),
    _A("com.openai.chat", "ChatGPT", "openai", ("1.2024.233", "1.2024.310")),
    _A("com.reddit.Reddit", "Reddit", "reddit", ("2024.33.0", "2024.45.0")),
    _A("com.amazon.Amazon", "Amazon Shopping", "amazon", ("28.16.0", "28.20.2")),
    _A("com.ubercab.UberClient", "Uber", "uber", ("3.632.10000", "3.645.10001")),
    _A("com.airbnb.app", "Airbnb", "airbnb", ("24.34", "24.45")),
    _A("com.strava.stravaride", "Strava", "strava", ("372.0", "380.0")),
    _A("com.duolingo.DuolingoMobile", "Duolingo", "duolingo", ("7.40.0", "7.52.1")),
    _A("com.shazam.Shazam", "Shazam", "apple", ("18.4", "18.9")),
    _A("com.getdropbox.Dropbox", "Dropbox", "dropbox", ("373.2", "381.2")),
    _A("com.paypal.PPClient", "PayPal", "paypal", ("8.66.0", "8.72.0")),
    _A("com.chase", "Chase", "chase", ("5.14", "5.22")),
)

#: In-house (line-of-business) apps: fictitious companies, as in vendor documentation.
_LOB_ORGS: tuple[tuple[str, str], ...] = (
    ("contoso", "Contoso"),
    ("fabrikam", "Fabrikam"),
    ("northwind", "Northwind"),
    ("adventureworks", "Adventure Works"),
    ("tailspintoys", "Tailspin Toys"),
    ("woodgrovebank", "Woodgrove Bank"),
    ("litware", "Litware"),
    ("wingtiptoys", "Wingtip Toys"),
)
_LOB_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("expenses", "Expenses"),
    ("timesheets", "Timesheets"),
    ("fieldservice", "Field Service"),
    ("inventory", "Inventory"),
    ("travel", "Travel"),
    ("helpdesk", "Helpdesk"),
    ("payroll", "Payroll"),
    ("crm", "CRM"),
    ("visitors", "Visitors"),
    ("scanner", "Scanner"),
    ("safety", "Safety"),
    ("training", "Training"),
    ("directory", "Directory"),
    ("procurement", "Procurement"),
    ("leave", "Leave"),
    ("assets", "Assets"),
    ("dispatch", "Dispatch"),
    ("salesportal", "Sales Portal"),
    ("orders", "Orders"),
    ("quality", "Quality"),
    ("maintenance", "Maintenance"),
    ("intranet", "Intranet"),
    ("onboarding", "Onboarding"),
    ("learning", "Learning"),
    ("warehouse", "Warehouse"),
    ("fleet", "Fleet"),
    ("badge", "Badge"),
    ("events", "Events"),
    ("compliance", "Compliance"),
    ("incidents", "Incidents"),
    ("approvals", "Approvals"),
    ("roomfinder", "Room Finder"),
    ("benefits", "Benefits"),
    ("pointofsale", "Point of Sale"),
    ("survey", "Survey"),
    ("logistics", "Logistics"),
    ("invoices", "Invoices"),
    ("contracts", "Contracts"),
    ("tickets", "Tickets"),
    ("catalog", "Catalog"),
)

# --------------------------------------------------------------------------------------------
# People, tags, integrity
# --------------------------------------------------------------------------------------------

_SURNAMES: tuple[str, ...] = (
    "rossi", "bianchi", "ferrari", "esposito", "müller", "schmidt", "schneider", "fischer",
    "martin", "bernard", "dubois", "laurent", "garcia", "fernandez", "lopez", "martinez",
    "smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "miller",
    "kowalski", "nowak", "novak", "horvat", "jansen", "devries", "peeters", "silva",
    "santos", "larsen", "nielsen", "johansson", "virtanen", "murphy", "kelly", "papadopoulos",
    "yilmaz", "kaya", "tanaka", "sato", "kim", "lee", "nguyen", "singh", "patel", "cohen",
)  # fmt: skip
_INITIALS = "abcdefghijklmnoprstvwz"
_DEPARTMENTS = (
    "sales", "finance", "engineering", "hr", "marketing", "support", "legal",
    "operations", "executives", "field-service", "it",
)  # fmt: skip
_REGIONS = ("emea", "amer", "apac")

_ANDROID_CLEAN_SIGNALS = (
    IntegritySignal("ro.debuggable", "0"),
    IntegritySignal("ro.secure", "1"),
    IntegritySignal("ro.build.tags", "release-keys"),
    IntegritySignal("verified_boot_state", "green"),
    IntegritySignal("bootloader_locked", "true"),
    IntegritySignal("selinux", "enforcing"),
)
_IOS_CLEAN_SIGNALS = (
    IntegritySignal("fork_allowed", "false"),
    IntegritySignal("sandbox_writable", "false"),
    IntegritySignal("suspicious_files", "0"),
    IntegritySignal("cydia_url_scheme", "false"),
)

# --------------------------------------------------------------------------------------------
# What each scenario lets the agent see
# --------------------------------------------------------------------------------------------

_Kind = Literal["system", "wp_system", "work", "mam", "personal", "lob"]
_ALL = -1  # take the whole group


@dataclass(frozen=True, slots=True)
class _Plan:
    portal: bool  # the company portal is on the device (and visible to the agent)
    groups: tuple[tuple[_Kind, int, int], ...]  # (kind, min, max) apps of each kind


_S = EnrollmentScenario
_PLANS: dict[EnrollmentScenario, _Plan] = {
    _S.ANDROID_WORK_PROFILE: _Plan(
        True, (("wp_system", _ALL, _ALL), ("work", 5, 14), ("lob", 0, 2))
    ),
    _S.ANDROID_COPE: _Plan(True, (("wp_system", _ALL, _ALL), ("work", 6, 16), ("lob", 0, 3))),
    _S.ANDROID_PERSONAL_PROFILE: _Plan(True, (("system", _ALL, _ALL), ("personal", 12, 30))),
    _S.ANDROID_COBO: _Plan(
        True, (("system", _ALL, _ALL), ("work", 8, 18), ("personal", 0, 8), ("lob", 0, 3))
    ),
    _S.ANDROID_DEVICE_ADMIN: _Plan(
        True, (("system", _ALL, _ALL), ("personal", 15, 30), ("work", 2, 6), ("lob", 0, 1))
    ),
    _S.ANDROID_MAM: _Plan(True, (("mam", 2, 8),)),
    _S.IOS_SUPERVISED: _Plan(True, (("work", 6, 14), ("personal", 8, 24), ("lob", 0, 2))),
    _S.IOS_DEVICE_ENROLLMENT: _Plan(True, (("work", 5, 12), ("personal", 10, 26), ("lob", 0, 1))),
    _S.IOS_USER_ENROLLMENT: _Plan(True, (("work", 3, 10), ("lob", 0, 1))),
    _S.IOS_MAM: _Plan(False, (("mam", 2, 7),)),
}
_CORPORATE_OWNED = frozenset({_S.ANDROID_COPE, _S.ANDROID_COBO})
_SIDELOADING_ALLOWED = frozenset({_S.ANDROID_PERSONAL_PROFILE, _S.ANDROID_DEVICE_ADMIN})
_IOS_MDM = frozenset({_S.IOS_SUPERVISED, _S.IOS_DEVICE_ENROLLMENT, _S.IOS_USER_ENROLLMENT})
_SIDELOAD_RATE = 0.02
_MANAGED_RATE = 0.3  # corporate-owned Android: share of work apps pushed by the MDM


@lru_cache(maxsize=64)
def _pool(platform: Platform, kind: _Kind, manufacturer: str) -> tuple[_CatalogApp, ...]:
    if platform is Platform.ANDROID:
        if kind == "system":
            return _ANDROID_GMS + _ANDROID_OEM_SYSTEM.get(manufacturer, ())
        if kind == "wp_system":
            return _WORK_PROFILE_SYSTEM
        work, personal = _ANDROID_WORK, _ANDROID_PERSONAL
    else:
        work, personal = _IOS_WORK, _IOS_PERSONAL
    if kind == "work":
        return work
    if kind == "mam":
        return tuple(app for app in work if app.mam)
    if kind == "personal":
        return personal
    return ()  # "lob" apps are generated; system groups do not exist on iOS


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def simulate(
    profile: str, *, seed: int, today: date, apps_per_device: int | None = None
) -> SimulatedDevice:
    """The device of `profile` drawn with `seed`, as it reports itself on `today`.

    Deterministic for (profile, seed, today, apps_per_device). `apps_per_device` forces the
    size of the app inventory (generated in-house apps fill up what the catalog lacks).
    """
    scenario = _scenario(profile)
    _check_today(today)
    _check_app_count(apps_per_device)
    return _simulate(scenario, seed=seed, today=today, apps_per_device=apps_per_device)


def simulate_fleet(
    count: int,
    *,
    seed: int,
    today: date,
    profiles: Sequence[str] | None = None,
    apps_per_device: int | None = None,
) -> Iterator[SimulatedDevice]:
    """`count` devices cycling through `profiles` (default: every profile).

    Device ``i`` is ``simulate(profiles[i % len(profiles)], seed=seed * 2**32 + i, …)``, so
    hardware ids are distinct within a fleet and any member can be rebuilt on its own.
    """
    names = list(PROFILES) if profiles is None else list(profiles)
    if not names:
        raise ValueError("profiles must name at least one profile")
    scenarios = [_scenario(name) for name in names]
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    _check_today(today)
    _check_app_count(apps_per_device)
    return _fleet(count, scenarios, seed=seed, today=today, apps_per_device=apps_per_device)


def with_changes(device: SimulatedDevice, *, rng_seed: int) -> SimulatedDevice:
    """The same device at a later check-in: an app updated, installed or removed (1–3 changes).

    Deterministic for (device, rng_seed); the hardware id, model and OS stay the same and the
    inventory always differs from the one before.
    """
    facts = device.facts
    scenario = facts.scenario
    rng = random.Random(f"{device.profile}:{device.hardware_id}:changes:{rng_seed}")
    apps = {app.identifier: app for app in facts.apps}
    touched: set[str] = set()  # installed or removed here: never undone in the same round
    changes = rng.choice((1, 1, 1, 2, 3))
    done = 0
    while done < changes:
        action = rng.choices(("update", "install", "remove"), weights=(6, 2, 2))[0]
        if action == "remove":
            removable = sorted(
                ident
                for ident, app in apps.items()
                if app.install_source is not InstallSource.SYSTEM
                and ident not in touched
                and ident not in (_ANDROID_PORTAL.identifier, _IOS_PORTAL.identifier)
            )
            if not removable:
                continue
            removed = rng.choice(removable)
            del apps[removed]
            touched.add(removed)
        elif action == "update" and apps:
            ident = rng.choice(sorted(apps))
            old = apps[ident]
            version = _next_version(facts.platform, ident, old.version)
            apps[ident] = replace(
                old,
                version=version,
                sha256=_apk_sha256(ident, version) if old.sha256 is not None else None,
            )
        else:
            kind, app = _pick_new_app(rng, scenario, facts, set(apps) | touched)
            apps[app.identifier] = _app_info(
                facts.platform, app, _pick_version(rng, app), _install_source(rng, scenario, kind)
            )
            touched.add(app.identifier)
        done += 1
    new_facts = replace(facts, apps=tuple(sorted(apps.values(), key=_by_identifier)))
    return replace(device, facts=new_facts)


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _scenario(profile: str) -> EnrollmentScenario:
    scenario = PROFILES.get(profile)
    if scenario is not None:
        return scenario
    known = ", ".join(sorted(PROFILES))
    why = ""
    if profile in {s.value for s in EnrollmentScenario}:
        spec = SCENARIOS[EnrollmentScenario(profile)]
        why = f" (the scenario is not supported: {spec.refusal})"
    raise ValueError(f"unknown simulated profile {profile!r}{why}; known profiles: {known}")


def _check_today(today: date) -> None:
    if today < EARLIEST_TODAY:
        raise ValueError(
            f"today={today.isoformat()} is before {EARLIEST_TODAY.isoformat()}, where the "
            "simulator's device and OS tables start"
        )


def _check_app_count(apps_per_device: int | None) -> None:
    if apps_per_device is not None and apps_per_device < 0:
        raise ValueError(f"apps_per_device must be >= 0, got {apps_per_device}")


def _fleet(
    count: int,
    scenarios: list[EnrollmentScenario],
    *,
    seed: int,
    today: date,
    apps_per_device: int | None,
) -> Iterator[SimulatedDevice]:
    for i in range(count):
        scenario = scenarios[i % len(scenarios)]
        yield _simulate(
            scenario, seed=seed * 2**32 + i, today=today, apps_per_device=apps_per_device
        )


def _simulate(
    scenario: EnrollmentScenario, *, seed: int, today: date, apps_per_device: int | None
) -> SimulatedDevice:
    profile = scenario.value
    # A personal profile needs an active work profile on the same phone, so the personal
    # profile drawn with `seed` lives on the phone of the work profile drawn with `seed`:
    # same hardware id, maker, model, OS and owner; its own apps.
    phone = (
        EnrollmentScenario.ANDROID_WORK_PROFILE.value
        if scenario is EnrollmentScenario.ANDROID_PERSONAL_PROFILE
        else profile
    )
    rng = random.Random(f"{phone}:{seed}")
    hardware_id = hashlib.blake2b(
        f"openmtd-simulated:{phone}:{seed}".encode(), digest_size=16
    ).hexdigest()
    platform = SCENARIOS[scenario].platform
    if platform is Platform.ANDROID:
        base, marketing, signals = _android_device(rng, today)
    else:
        base, marketing, signals = _ios_device(rng, today)
    user = f"{rng.choice(_INITIALS)}.{rng.choice(_SURNAMES)}"
    if phone != profile:
        rng = random.Random(f"{profile}:{seed}")
    facts = replace(
        base,
        scenario=scenario,
        tags=_tags(rng),
        apps=_inventory(rng, scenario, base, apps_per_device),
    )
    return SimulatedDevice(profile, hardware_id, facts, signals, f"{marketing} of {user}")


def _android_device(
    rng: random.Random, today: date
) -> tuple[DeviceFacts, str, tuple[IntegritySignal, ...]]:
    makers, shares, models_of = _android_candidates(today)
    maker = rng.choices(makers, weights=shares)[0]
    models, weights = models_of[maker]
    model = rng.choices(models, weights=weights)[0]
    patch = _patch_level(rng, model, today)
    major = _android_major(rng, model, patch)
    facts = DeviceFacts(
        platform=Platform.ANDROID,
        scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,  # replaced by the caller
        os_version=str(major),
        model=model.model,
        manufacturer=model.manufacturer,
        security_patch_level=patch,
        build=_android_build(rng, model, major, patch),
    )
    return facts, model.name, _ANDROID_CLEAN_SIGNALS


@lru_cache(maxsize=64)
def _android_candidates(
    today: date,
) -> tuple[
    tuple[str, ...],
    tuple[float, ...],
    dict[str, tuple[tuple[_AndroidModel, ...], tuple[float, ...]]],
]:
    """Makers with a model on sale by `today`, their shares, and their models with weights."""
    models_of: dict[str, tuple[tuple[_AndroidModel, ...], tuple[float, ...]]] = {}
    for maker in _MANUFACTURER_SHARE:
        models = tuple(
            m for m in _ANDROID_MODELS if m.manufacturer == maker and m.launched <= today
        )
        if models:
            # Newer models are more common in a fleet than ones about to leave it.
            weights = tuple(1.0 + max(0.0, 4.0 - (today - m.launched).days / 365) for m in models)
            models_of[maker] = (models, weights)
    makers = tuple(models_of)
    return makers, tuple(_MANUFACTURER_SHARE[m] for m in makers), models_of


def _patch_level(rng: random.Random, model: _AndroidModel, today: date) -> date:
    this_month = today.replace(day=1)
    oldest = max(_add_months(this_month, -PATCH_WINDOW_MONTHS), model.launched.replace(day=1))
    max_age = _months_between(oldest, this_month)
    age = rng.choices(range(max_age + 1), weights=_PATCH_AGE_WEIGHTS[: max_age + 1])[0]
    if model.manufacturer == "Google":
        day = 5
    elif model.manufacturer == "OnePlus":
        day = rng.choice((1, 5))
    else:
        day = 1
    patch = _add_months(this_month, -age).replace(day=day)
    if patch > today:  # this month's patch is not out yet
        patch = _add_months(patch, -1).replace(day=day) if age < max_age else this_month
    return patch


def _android_major(rng: random.Random, model: _AndroidModel, patch: date) -> int:
    delay = _OEM_UPGRADE_DELAY_MONTHS[model.manufacturer]

    def offered(major: int) -> date:
        return _add_months(_ANDROID_RELEASED[major], delay)

    last = min(model.last_os, LATEST_ANDROID)
    allowed = [
        m
        for m in range(model.launch_os, last + 1)
        if m == model.launch_os or (m in _ANDROID_RELEASED and offered(m) <= patch)
    ]
    newest = allowed[-1]
    # Nobody keeps an old major version for long once the next one is offered.
    allowed = [
        m
        for m in allowed
        if m == newest or patch <= _add_months(offered(m + 1), _UPGRADE_LAG_MONTHS)
    ]
    if len(allowed) == 1:
        return newest
    up_to_date = 0.9 if model.manufacturer == "Google" else 0.7
    if rng.random() < up_to_date:
        return newest
    return rng.choice(allowed[:-1])


def _android_build(rng: random.Random, model: _AndroidModel, major: int, patch: date) -> str:
    if model.manufacturer == "Google":
        branches = [b for b in _PIXEL_BRANCHES if b[0] == major and b[1] <= patch]
        prefix = (branches or [b for b in _PIXEL_BRANCHES if b[0] == major])[-1][2]
        build = f"{prefix}.{patch:%y%m}05.{rng.randint(1, 40):03d}"
        return build + ".A1" if rng.random() < 0.1 else build
    if model.manufacturer == "samsung":
        # e.g. S928BXXS4AXK1: model, region, S(ecurity)/U(pdate), bootloader, OS upgrade count,
        # year (A = 2001), month (A = January), revision.
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        code = model.code.removeprefix("SM-")
        kind = "S" if rng.random() < 0.8 else "U"
        bootloader = min(9, 1 + _months_between(model.launched, patch) // 8)
        upgrade = letters[major - model.launch_os]
        year = letters[(patch.year - 2001) % 26]
        month = letters[patch.month - 1]
        return f"{code}XX{kind}{bootloader}{upgrade}{year}{month}{rng.randint(1, 5)}"
    return _OEM_BUILD_IDS[major]


def _ios_device(
    rng: random.Random, today: date
) -> tuple[DeviceFacts, str, tuple[IntegritySignal, ...]]:
    phones, weights = _iphone_candidates(today)
    phone = rng.choices(phones, weights=weights)[0]
    newest, by_date, recent = _ios_release_candidates(today, phone.min_ios)
    u = rng.random()
    if u < 0.5:
        release = newest
    elif u < 0.8:
        release = rng.choice(by_date[-4:])
    else:
        release = rng.choice(recent)
    facts = DeviceFacts(
        platform=Platform.IOS,
        scenario=EnrollmentScenario.IOS_SUPERVISED,  # replaced by the caller
        os_version=release.version,
        model=phone.model,
        manufacturer="Apple",
        security_patch_level=None,
        build=release.build,
    )
    return facts, phone.name, _IOS_CLEAN_SIGNALS


@lru_cache(maxsize=64)
def _iphone_candidates(today: date) -> tuple[tuple[_IPhone, ...], tuple[float, ...]]:
    phones = tuple(p for p in _IPHONES if p.launched <= today)
    weights = tuple(
        p.weight * (1.0 + max(0.0, 3.0 - (today - p.launched).days / 365)) for p in phones
    )
    return phones, weights


@lru_cache(maxsize=256)
def _ios_release_candidates(
    today: date, min_ios: tuple[int, ...]
) -> tuple[_IOSRelease, tuple[_IOSRelease, ...], tuple[_IOSRelease, ...]]:
    """The newest release a phone can run on `today`, all of them by date, the recent ones."""
    available = [r for r in _IOS_RELEASES if r.released <= today and r.key >= min_ios]
    newest = max(available, key=lambda r: r.key)
    by_date = tuple(sorted(available, key=lambda r: (r.released, r.key)))
    window_start = today - timedelta(days=round(PATCH_WINDOW_MONTHS * 30.44))
    recent = tuple(r for r in by_date if r.released >= window_start) or by_date[-3:]
    return newest, by_date, recent


def _tags(rng: random.Random) -> tuple[str, ...]:
    u = rng.random()
    if u < 0.2:
        return ()
    department = rng.choice(_DEPARTMENTS)
    if u < 0.6:
        return (department,)
    return (department, rng.choice(_REGIONS))


def _inventory(
    rng: random.Random,
    scenario: EnrollmentScenario,
    facts: DeviceFacts,
    apps_per_device: int | None,
) -> tuple[AppInfo, ...]:
    plan = _PLANS[scenario]
    platform = facts.platform
    portal = _ANDROID_PORTAL if platform is Platform.ANDROID else _IOS_PORTAL
    chosen: list[tuple[_Kind, _CatalogApp]] = [("work", portal)] if plan.portal else []
    lob_wanted = 0
    if apps_per_device is None:
        for kind, low, high in plan.groups:
            if kind == "lob":
                lob_wanted = rng.randint(low, high)
                continue
            pool = _pool(platform, kind, facts.manufacturer)
            if low == _ALL:
                chosen.extend((kind, app) for app in pool)
            else:
                size = min(len(pool), rng.randint(low, high))
                chosen.extend((kind, app) for app in rng.sample(pool, size))
    else:
        fixed = list(chosen)
        fixed += [
            (kind, app)
            for kind, low, _high in plan.groups
            if low == _ALL
            for app in _pool(platform, kind, facts.manufacturer)
        ]
        optional = [
            (kind, app)
            for kind, low, _high in plan.groups
            if low != _ALL
            for app in _pool(platform, kind, facts.manufacturer)
        ]
        rng.shuffle(optional)
        chosen = (fixed + optional)[:apps_per_device]
        lob_wanted = apps_per_device - len(chosen)
    seen: set[str] = set()
    apps: list[AppInfo] = []
    for kind, app in chosen:
        if app.identifier not in seen:  # a catalog app may sit in two groups
            seen.add(app.identifier)
            source = (
                _portal_source(scenario) if app is portal else _install_source(rng, scenario, kind)
            )
            apps.append(_app_info(platform, app, _pick_version(rng, app), source))
    if len(apps) < len(chosen):  # in-house apps stand in for any duplicates
        lob_wanted += len(chosen) - len(apps)
    apps.extend(
        _app_info(platform, app, _pick_version(rng, app), _install_source(rng, scenario, "lob"))
        for app in _lob_apps(rng, platform, lob_wanted)
    )
    return tuple(sorted(apps, key=_by_identifier))


def _by_identifier(app: AppInfo) -> str:
    return app.identifier


def _portal_source(scenario: EnrollmentScenario) -> InstallSource:
    if scenario in _CORPORATE_OWNED or scenario in _IOS_MDM:
        return InstallSource.MANAGED
    return InstallSource.STORE


def _install_source(rng: random.Random, scenario: EnrollmentScenario, kind: _Kind) -> InstallSource:
    if kind in ("system", "wp_system"):
        return InstallSource.SYSTEM
    if kind == "personal":
        if scenario in _SIDELOADING_ALLOWED and rng.random() < _SIDELOAD_RATE:
            return InstallSource.SIDELOADED
        return InstallSource.STORE
    # work, mam and in-house apps
    if scenario in _IOS_MDM:
        return InstallSource.MANAGED
    if scenario in _CORPORATE_OWNED:
        if kind == "lob" or rng.random() < _MANAGED_RATE:
            return InstallSource.MANAGED
        return InstallSource.STORE
    if kind == "lob" and scenario is _S.ANDROID_DEVICE_ADMIN:
        return InstallSource.MANAGED
    return InstallSource.STORE


def _pick_version(rng: random.Random, app: _CatalogApp) -> str:
    versions = app.versions
    if len(versions) == 1:
        return versions[0]
    weights = [1.0] * (len(versions) - 2) + [3.0, 6.0]
    return rng.choices(versions, weights=weights)[0]


def _lob_apps(rng: random.Random, platform: Platform, count: int) -> list[_CatalogApp]:
    """`count` distinct in-house apps, mostly of the first companies (so fleets share them)."""
    if count <= 0:
        return []
    candidates = [_lob_app(platform, i) for i in range(count + 6)]
    return rng.sample(candidates, count)


@lru_cache(maxsize=4096)
def _lob_app(platform: Platform, index: int) -> _CatalogApp:
    slug, function = _LOB_FUNCTIONS[index % len(_LOB_FUNCTIONS)]
    round_, org_index = divmod(index // len(_LOB_FUNCTIONS), len(_LOB_ORGS))
    org, org_name = _LOB_ORGS[org_index]
    suffix = str(round_ + 1) if round_ else ""
    identifier = f"com.{org}.{slug}{suffix}"
    if platform is Platform.IOS:
        identifier = f"com.{org}.ios.{slug}{suffix}"
    digest = hashlib.sha256(identifier.encode()).digest()
    major, minor, patch = 1 + digest[0] % 6, digest[1] % 30, digest[2] % 10
    versions = (f"{major}.{minor}.{patch}", f"{major}.{minor + 1}.0", f"{major}.{minor + 1}.1")
    name = f"{org_name} {function}" + (f" {suffix}" if suffix else "")
    return _CatalogApp(identifier, name, org, versions, mam=True)


def _pick_new_app(
    rng: random.Random, scenario: EnrollmentScenario, facts: DeviceFacts, installed: set[str]
) -> tuple[_Kind, _CatalogApp]:
    candidates = [
        (kind, app)
        for kind, _low, _high in _PLANS[scenario].groups
        if kind not in ("system", "wp_system")
        for app in _pool(facts.platform, kind, facts.manufacturer)
        if app.identifier not in installed
    ]
    if candidates and rng.random() < 0.8:
        return rng.choice(candidates)
    free: list[_CatalogApp] = []
    index = 0
    while len(free) < 4:
        app = _lob_app(facts.platform, index)
        if app.identifier not in installed:
            free.append(app)
        index += 1
    return "lob", rng.choice(free)


def _catalog_index(platform: Platform) -> dict[str, _CatalogApp]:
    if platform is Platform.ANDROID:
        return _ANDROID_CATALOG
    return _IOS_CATALOG


_ANDROID_CATALOG: dict[str, _CatalogApp] = {
    app.identifier: app
    for app in (
        _ANDROID_PORTAL,
        *_ANDROID_WORK,
        *_ANDROID_PERSONAL,
        *_ANDROID_GMS,
        *(app for apps in _ANDROID_OEM_SYSTEM.values() for app in apps),
    )
}
_IOS_CATALOG: dict[str, _CatalogApp] = {
    app.identifier: app for app in (_IOS_PORTAL, *_IOS_WORK, *_IOS_PERSONAL)
}


def _next_version(platform: Platform, identifier: str, version: str) -> str:
    app = _catalog_index(platform).get(identifier)
    if app is not None and version in app.versions:
        position = app.versions.index(version)
        if position + 1 < len(app.versions):
            return app.versions[position + 1]
    return _bump(version)


_LAST_NUMBER = re.compile(r"(\d+)(\D*)$")


def _bump(version: str) -> str:
    """Increment the last number of a version string, keeping its width ("RC02" -> "RC03")."""
    match = _LAST_NUMBER.search(version)
    if match is None:
        return f"{version}.1"
    digits = match.group(1)
    return version[: match.start(1)] + str(int(digits) + 1).zfill(len(digits)) + match.group(2)


@lru_cache(maxsize=1 << 16)
def _app_info(platform: Platform, app: _CatalogApp, version: str, source: InstallSource) -> AppInfo:
    if platform is Platform.IOS:  # iOS inventories carry no package hashes
        return AppInfo(app.identifier, version, app.name, source)
    return AppInfo(
        app.identifier,
        version,
        app.name,
        source,
        sha256=_apk_sha256(app.identifier, version),
        signer_sha256=_signer_sha256(app.publisher),
    )


@lru_cache(maxsize=1 << 16)
def _apk_sha256(identifier: str, version: str) -> str:
    return hashlib.sha256(f"openmtd-simulated-apk:{identifier}:{version}".encode()).hexdigest()


@lru_cache(maxsize=1024)
def _signer_sha256(publisher: str) -> str:
    return hashlib.sha256(f"openmtd-simulated-signer:{publisher}".encode()).hexdigest()


def _add_months(day: date, months: int) -> date:
    """The first of the month `months` after (or before) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month
