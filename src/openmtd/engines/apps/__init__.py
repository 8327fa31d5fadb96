"""App protection engines: static reading of APK bytes (ZIP, binary XML manifest, signers)."""
