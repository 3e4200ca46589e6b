"""sweeprank command line: the composition root that starts and talks to the stack.

`sweeprank.rank(table, metric=...)` ranks a table of trials in a notebook (offline/notebook.py).
"""

from offline.notebook import rank

__all__ = ["rank"]
