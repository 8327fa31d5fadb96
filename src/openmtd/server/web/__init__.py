"""Web protection on the server: indicators, feeds, policy, verdicts."""
