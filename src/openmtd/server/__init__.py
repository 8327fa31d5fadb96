"""The console server: REST API, web console and the agent protocol."""
