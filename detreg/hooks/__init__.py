"""detreg.hooks."""
