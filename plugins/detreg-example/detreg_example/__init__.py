"""detreg-example: a hook, a loss and a transform, found by detreg through entry points."""
