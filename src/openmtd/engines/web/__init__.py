"""Web protection engines: canonical URLs, indicator matching and lookalike heuristics."""
