"""Local protection on the device: the web protection proxy and the DNS listener."""
