"""Vulnerability management on the server: feed imports (matching and the API come next)."""
