"""The versioned device protocol under /api/agent/v1."""
