from sweeprank.cli import main

raise SystemExit(main())
