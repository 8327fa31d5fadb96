"""The unified alert queue for both platforms, and device risk."""
