"""Audit log of administrative changes."""
