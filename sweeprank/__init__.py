"""sweeprank command line: the composition root that starts and talks to the stack.

`sweeprank.rank(table, metric=...)` ranks a table of trials in a notebook (sweeprank/notebook.py).
Importing sweeprank.notebook first loads the submodule sweeprank.rank, which binds the package's
`rank` to that module; the import below then rebinds it to the function for good (a submodule
binds its package attribute only when first loaded), so the CLI imports from sweeprank.rank by name.
"""

from sweeprank.notebook import rank

__all__ = ["rank"]
