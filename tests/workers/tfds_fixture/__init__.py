"""A tiny tfds dataset builder for offline tests; tfds needs builders defined inside a package."""
