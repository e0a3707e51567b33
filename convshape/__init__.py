"""convshape."""
