"""engage: per-minute classroom engagement from facial expressions, stored as aggregates only."""

__version__ = "0.1.0"
