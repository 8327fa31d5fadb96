"""Network protection engines: Wi-Fi threats (open, weak, rogue networks) and TLS certificates."""
