"""Device integrity: attestation challenges, verification, verdicts and alerts."""
