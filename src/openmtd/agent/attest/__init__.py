"""Device attestation on the agent side: software stand-ins for the platforms' attestation
services (an Android keystore that produces real Key Attestation chains, and their Apple and
Play Integrity counterparts), used by the agent simulator, the tests and the benchmark."""
