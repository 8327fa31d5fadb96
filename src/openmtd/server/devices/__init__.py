"""Device inventory: list, search, device page data."""
