"""Enrollment: the seed's scenario tables, onboarding tokens and MDM managed configuration."""
