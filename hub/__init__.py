"""cites-hub: the integration hub for CITES electronic permits."""

__version__ = "0.1.0"
