"""The one settings object: what it reads from the environment, and the README's table of it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from broker.settings import ENV_PREFIX, Settings, SettingsError, read_settings, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_table() -> list[str]:
    """The table rows of the README's "Configuration" section."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_readme_documents_every_setting_with_its_default_and_nothing_else() -> None:
    rows = _readme_table()
    documented = {m.group(1) for row in rows if (m := re.match(rf"\| `({ENV_PREFIX}\w+)` \|", row))}
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert not fields - documented, f"settings missing from the README: {sorted(fields - documented)}"
    assert not documented - fields, f"README documents settings that do not exist: {sorted(documented - fields)}"
    # Defaults and meanings too: the table is generated from the fields.
    assert "\n".join(rows) == settings_table(), "README table is stale: paste `python -m broker.settings` over it"


def test_table_shows_the_defaults() -> None:
    table = settings_table()
    assert "| `SWEEPRANK_VISIBILITY_TIMEOUT_S` | 90000 |" in table
    assert "| `SWEEPRANK_PUBLIC_READ` | `true` |" in table
    assert "| `SWEEPRANK_RECONCILE_EVERY_S` | 5 |" in table
    assert "| `SWEEPRANK_TORCHVISION_DIR` | `$SWEEPRANK_DATA_DIR/torchvision` |" in table


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_VISIBILITY_TIMEOUT_S", "1000")
    monkeypatch.setenv("SWEEPRANK_PUBLIC_READ", "false")
    monkeypatch.setenv("SWEEPRANK_RECONCILE_EVERY_S", "0.5")
    monkeypatch.setenv("SWEEPRANK_TORCH_THREADS", "")  # empty is unset, as before
    monkeypatch.setenv("SWEEPRANK_SECRET_KEY", "s3cret")
    monkeypatch.setenv("SWEEPRANK_DATA_DIR", "~/data")
    settings = Settings()
    assert (settings.visibility_timeout_s, settings.public_read, settings.reconcile_every_s) == (1000, False, 0.5)
    assert settings.torch_threads is None
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.data_dir == Path.home() / "data"


def test_arguments_override_the_environment_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_VISIBILITY_TIMEOUT_S", "1000")
    settings = Settings(redis_url="redis://elsewhere:6379/0")
    assert (settings.redis_url, settings.visibility_timeout_s) == ("redis://elsewhere:6379/0", 1000)


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_CLAIM_TTL_S", "two minutes")
    with pytest.raises(SettingsError, match="SWEEPRANK_CLAIM_TTL_S"):
        read_settings()


def test_a_misspelt_setting_in_code_is_an_error() -> None:
    with pytest.raises(SettingsError, match="SWEEPRANK_CLAIM_TTL"):
        read_settings(claim_ttl=5)


@pytest.mark.slow
def test_the_command_line_reports_a_bad_setting() -> None:
    env = {**os.environ, "SWEEPRANK_CLAIM_TTL_S": "two minutes"}
    done = subprocess.run(
        [sys.executable, "-m", "sweeprank", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "SWEEPRANK_CLAIM_TTL_S" in done.stderr and "Traceback" not in done.stderr
