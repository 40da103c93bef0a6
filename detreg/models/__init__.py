"""detreg.models."""
