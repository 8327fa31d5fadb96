"""Vulnerability matching: which records of the feeds apply to a device's OS and apps.

Pure functions over the shared vocabulary of ``openmtd.domain.vulns``:

* ``versions`` compares the version strings mobile devices and feeds really use (iOS
  ``"17.4.1"``, Android ``"12L"`` and ``"14:2024-01-01"`` patch levels, app versions such as
  ``"4.5.0-beta.2"``, ``"24.1.0.2319"`` or ``"7.0 (1234)"``);
* ``mapping`` is the editable table from an app's package name or bundle id to the product
  identifiers the feeds use (CPE, purl, OSV);
* ``index`` arranges the records of every feed for fast lookup (bisects, not scans);
* ``match`` finds the vulnerabilities of one device, or of a whole fleet, each with its evidence.
"""
