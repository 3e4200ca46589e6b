#!/usr/bin/env bash
# GPU check: cnn-paper trials on MNIST-size data (bf16 autocast, channels_last), with 1 and with
# 4 trials packed on the GPU (one process each, as trainer workers would run), printing trials/hour
# and GPU utilisation sampled with nvidia-smi for both.
#
#   bench/gpu_check.sh                 # on a GPU machine; about 2 x --seconds plus start-up
#   bench/gpu_check.sh --cpu-smoke     # tiny CPU run that exercises the whole script (no GPU needed)
#   bench/gpu_check.sh --seconds 60 --packs 1,2,4
#
# Installs nothing beyond the project: uses $PYTHON or .venv/bin/python, and runs `pip install -e .`
# once only if the project does not import.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
"$PY" -c "import workers.trainer.loop" 2>/dev/null || "$PY" -m pip install -q -e .

# Written to a file, not piped on stdin: spawned worker processes re-import the main module by path.
script="$(mktemp --suffix=_gpu_check.py)"
trap 'rm -f "$script"' EXIT
cat >"$script" <<'PYEOF'
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

SYNTHETIC = "synthetic_mnist"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="trials/hour and GPU utilisation, 1 vs N trials per GPU")
    p.add_argument("--cpu-smoke", action="store_true", help="tiny run on the CPU to check the script itself")
    p.add_argument("--packs", default="1,4", help="trials sharing the GPU at once, comma-separated")
    p.add_argument("--seconds", type=float, default=120.0, help="dispatch window per packing (s)")
    p.add_argument("--trials", type=int, default=400, help="trial pool (the window usually ends first)")
    p.add_argument("--epochs", type=int, default=2, help="cap on the sampled epochs")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.cpu_smoke:
        args.seconds, args.trials, args.epochs = min(args.seconds, 15.0), min(args.trials, 6), 1
    return args


def register_synthetic(n_train: int, n_test: int) -> None:
    """Random 28x28 uint8 images with random labels: the throughput of real MNIST, none of its accuracy."""
    import torch

    from workers.trainer.data import RawImages, register_loader

    def load(_roots: object) -> RawImages:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (n_train + n_test, 1, 28, 28), dtype=torch.uint8, generator=g)
        y = torch.randint(0, 10, (n_train + n_test,), generator=g)
        return RawImages(x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_classes=10)

    register_loader(SYNTHETIC, load)


def pick_dataset(smoke: bool) -> str:
    from workers.trainer.data import DatasetUnavailable, load_raw

    if not smoke:
        for name in ("mnist", "fashion_mnist"):
            try:
                load_raw(name)
                return name
            except DatasetUnavailable as err:
                print(f"{name}: not available here ({str(err)[:80]}...)")
    return SYNTHETIC


def sizes(smoke: bool) -> tuple[int, int]:
    return (600, 200) if smoke else (60_000, 10_000)


def specs(args: argparse.Namespace, dataset: str) -> list[Any]:
    from trials.presets import preset
    from trials.samplers import sample_configs
    from trials.specs import TrialLimits, TrialSpec

    space = preset("cnn-paper").narrow({"epochs": {"high": args.epochs}})
    return [
        TrialSpec(sweep_id="gpu-check", trial_id=i, dataset=dataset, config=c, seed=args.seed + i,
                  limits=TrialLimits(soft_time_limit_s=args.seconds * 2, hard_time_limit_s=args.seconds * 2 + 60))
        for i, c in enumerate(sample_configs(space, args.trials, "random", args.seed))
    ]


def worker(dataset: str, smoke: bool, device: str, threads: int, todo: Any, done: Any, ready: Any, go: Any,
           deadline: Any) -> None:
    from workers.trainer.loop import configure_threads, run_trial

    configure_threads(threads)
    if dataset == SYNTHETIC:
        register_synthetic(*sizes(smoke))
    warm = specs(argparse.Namespace(epochs=1, seed=10_000, trials=1, seconds=600.0), dataset)[0]
    warm.config.update(num_conv_layers=1, num_filters=8, batch_size=512)
    run_trial(warm, device=device)  # data onto the device, CUDA context, kernels: outside the window
    ready.put(os.getpid())
    go.wait()
    while time.time() < deadline.value:
        try:
            spec = todo.get_nowait()
        except queue.Empty:
            break
        result = run_trial(spec, device=device)
        done.put((result.status.value, result.wall_time_s, result.device))
    done.put(None)  # this worker is finished


class Sampler:
    """nvidia-smi utilisation and memory, every 200 ms, while a packing runs."""

    def __init__(self) -> None:
        cmd = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "-lms", "200"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) if shutil.which("nvidia-smi") else None

    def stop(self) -> str:
        if self.proc is None:
            return "GPU utilisation n/a (no nvidia-smi)"
        self.proc.terminate()
        out, _ = self.proc.communicate()
        rows = [[float(v) for v in line.split(",")[:2]] for line in out.splitlines() if line.count(",") >= 1]
        if not rows:
            return "GPU utilisation: no samples"
        util = [r[0] for r in rows]
        return (f"GPU utilisation mean {statistics.mean(util):.0f} % (median {statistics.median(util):.0f} %, "
                f"{len(rows)} samples), memory max {max(r[1] for r in rows) / 1024:.1f} GiB")


def run_packing(pack: int, args: argparse.Namespace, dataset: str, device: str) -> str:
    ctx = mp.get_context("spawn")  # CUDA cannot be used in forked children
    todo, done, ready, go = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    deadline = ctx.Value("d", 0.0)
    for spec in specs(args, dataset):
        todo.put(spec)
    threads = max(1, (os.cpu_count() or 1) // pack)
    procs = [ctx.Process(target=worker, args=(dataset, args.cpu_smoke, device, threads, todo, done, ready, go, deadline))
             for _ in range(pack)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=900)
    sampler = Sampler()
    started = time.time()
    deadline.value = started + args.seconds
    go.set()
    results, finished = [], 0
    while finished < pack:  # drain before join: a child exits only once its queue data is read
        item = done.get()
        finished += item is None
        if item is not None:
            results.append(item)
    elapsed = time.time() - started
    gpu = sampler.stop()
    for proc in procs:
        proc.join()
    statuses = Counter(status for status, _, _ in results)
    per_hour = 3600 * len(results) / elapsed
    names = sorted({name for _, _, name in results})
    return (f"{pack} trial(s) per GPU: {len(results)} trials in {elapsed:.0f} s = {per_hour:.0f} trials/hour "
            f"({dict(statuses)}; device {names}); {gpu}")


def main() -> None:
    args = parse()
    device = "cpu" if args.cpu_smoke else "cuda"
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device visible; use --cpu-smoke to check the script on a CPU")
    dataset = pick_dataset(args.cpu_smoke)
    if dataset == SYNTHETIC:
        n_train, n_test = sizes(args.cpu_smoke)
        print(f"dataset: SYNTHETIC random 28x28 uint8 ({n_train} train / {n_test} test; no MNIST/Fashion-MNIST here): "
              "throughput only, accuracies are meaningless")
    else:
        print(f"dataset: {dataset}")
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; bf16 autocast and channels_last "
          f"{'on' if device == 'cuda' else 'off (CPU)'}; epochs <= {args.epochs}; window {args.seconds:.0f} s per packing")
    lines = [run_packing(int(p), args, dataset, device) for p in args.packs.split(",")]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
PYEOF
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$script" "$@"
