"""Importers of real-world threat-intelligence and vulnerability formats into domain types."""
