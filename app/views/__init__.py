"""One ``param``-based view per tab; each holds its state and is tested without a browser."""
