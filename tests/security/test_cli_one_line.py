"""CLI errors left from the hostile suite's finding 18 that need no pool: one line, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_file_that_is_not_an_optuna_journal_is_named_as_such(tmp_path: Path) -> None:
    not_a_journal = tmp_path / "passwd"
    not_a_journal.write_text("root:x:0:0:root:/root:/bin/bash\n")
    done = subprocess.run(
        [sys.executable, "-m", "sweeprank", "rank", "--optuna-storage", f"journal://{not_a_journal}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"sweeprank rank: journal://{not_a_journal}: {not_a_journal} is not an Optuna journal "
        "(a line is not a journal record)"
    ]
