"""sweeprank package."""
