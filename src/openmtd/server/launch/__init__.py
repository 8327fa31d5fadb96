"""Conditional launch for managed apps: app protection policies and launch decisions."""
