"""importance package."""
