"""Protective DNS: DNS-over-HTTPS per device, DoH tokens and DNS profiles."""
