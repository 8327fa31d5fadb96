"""The server-rendered web console (Jinja2 templates, our own CSS, no JavaScript framework)."""
