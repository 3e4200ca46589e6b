"""GPU name and memory for the queue monitor come from nvidia-smi, never from torch in the parent."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from workers.tasks import gpu_status, parse_gpu_status


def test_parse_one_gpu_line() -> None:
    assert parse_gpu_status("NVIDIA H200, 1234, 143771\n") == {
        "gpu_name": "NVIDIA H200",
        "gpu_memory_used_mib": 1234,
        "gpu_memory_total_mib": 143771,
    }


def test_gpu_status_asks_nvidia_smi_for_the_worker_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\necho "NVIDIA A100-SXM4-80GB, 512, 81920"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert gpu_status("3") == {
        "gpu_name": "NVIDIA A100-SXM4-80GB",
        "gpu_memory_used_mib": 512,
        "gpu_memory_total_mib": 81920,
    }
    assert (tmp_path / "args").read_text().split()[:2] == ["-i", "3"]


def test_no_gpu_or_no_nvidia_smi_means_no_gpu_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpu_status("") == {}
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_status("0") == {}
