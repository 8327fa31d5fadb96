"""Console users, sessions and API tokens."""
