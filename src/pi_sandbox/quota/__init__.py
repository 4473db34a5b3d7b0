"""quota layer."""
