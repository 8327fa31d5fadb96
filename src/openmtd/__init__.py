"""openmtd: open, self-hosted Mobile Threat Defense for Android and iOS fleets."""

__version__ = "0.1.0"
