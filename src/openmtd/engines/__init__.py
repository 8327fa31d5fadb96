"""Pure detection logic shared by the server and the agent: no I/O, no clock, no settings."""
