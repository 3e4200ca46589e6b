"""sweeprank command line: the composition root that starts and talks to the stack."""
