"""What a device needs to use protective DNS: its DoH URL, an iOS profile, Android steps.

Pure functions over their inputs (no settings, no clock, no database): the service passes the
public URL, the freshly issued token and the device's name in.
"""

from __future__ import annotations

import plistlib
import re
import uuid

MOBILECONFIG_TYPE = "application/x-apple-aspen-config"
IDENTIFIER_PREFIX = "org.openmtd.dns"


def doh_url(public_url: str, token: str) -> str:
    """The device's RFC 8484 endpoint: <public URL>/dns-query/<token>."""
    return f"{public_url.rstrip('/')}/dns-query/{token}"


def mobileconfig(
    *,
    url: str,
    device_id: str,
    device_name: str,
    organization: str = "openmtd",
    profile_uuid: uuid.UUID | None = None,
    settings_uuid: uuid.UUID | None = None,
) -> bytes:
    """An iOS/iPadOS/macOS configuration profile with one managed DNS settings payload.

    The identifiers are stable per device, so installing a new profile (after the token was
    rotated) replaces the old one instead of adding a second; the UUIDs are new every time.
    Encrypted DNS settings apply to the whole system on iOS 14 and later; on a supervised
    device an MDM can also prohibit turning them off (not set here, as a profile installed by
    hand cannot rely on supervision).
    """
    identifier = f"{IDENTIFIER_PREFIX}.{device_id}"
    settings_payload = {
        "PayloadType": "com.apple.dnsSettings.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.settings",
        "PayloadUUID": str(settings_uuid or uuid.uuid4()).upper(),
        "PayloadDisplayName": "Protective DNS",
        "PayloadDescription": "Resolves names through openmtd, which blocks phishing and "
        "malicious domains.",
        "DNSSettings": {"DNSProtocol": "HTTPS", "ServerURL": url},
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": str(profile_uuid or uuid.uuid4()).upper(),
        "PayloadDisplayName": f"{organization} protective DNS",
        "PayloadDescription": f"Encrypted DNS (DNS-over-HTTPS) with phishing protection for "
        f"{device_name}. The address in this profile is a secret for this device only.",
        "PayloadOrganization": organization,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [settings_payload],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


def mobileconfig_filename(device_name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", device_name).strip("-").lower()[:40] or "device"
    return f"openmtd-dns-{slug}.mobileconfig"


def android_instructions(url: str) -> str:
    """How to use the DoH URL on Android, where the system setting cannot take it."""
    return (
        "Android's system setting Private DNS (Settings > Network & internet > Private DNS) "
        "speaks DNS-over-TLS to a host name on port 853; it cannot use a DNS-over-HTTPS URL, "
        "and this server does not offer DNS-over-TLS. Use the DoH URL below where DoH is "
        "supported:\n"
        "\n"
        f"DoH URL (secret, for this device only): {url}\n"
        "\n"
        "- Chrome: Settings > Privacy and security > Security > Use secure DNS > "
        "With: Custom, and paste the URL. Managed Chrome: set the policies "
        'DnsOverHttpsMode = "secure" and DnsOverHttpsTemplates = the URL.\n'
        "- Firefox: Settings > Privacy & security > DNS over HTTPS > Max protection > "
        "Custom provider, and paste the URL.\n"
        "- Other DoH-capable apps and private DNS apps: add a custom DoH server with the URL.\n"
        "\n"
        "For protection of every app on Android, run the openmtd agent: its local DNS "
        "listener applies the same verdicts on the device, and keeps working offline."
    )
