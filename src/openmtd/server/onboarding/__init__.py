"""Onboarding tokens and the managed-configuration files an MDM deploys."""
