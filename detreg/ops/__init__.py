"""detreg.ops."""
