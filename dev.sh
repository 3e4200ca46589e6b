#!/usr/bin/env bash
# One entry point for a fresh Debian machine with only python3:
#   bash dev.sh demo    install what is missing, start the stack, run the demo sweep, keep the web UI up
#   bash dev.sh test    install what is missing, run the whole test suite on 2 processes (arguments go
#                       to pytest: `bash dev.sh test -m "not stack and not slow"` is the fast lane, `-n 0`
#                       runs in one process: README, "Tests")
#   bash dev.sh lint    install what is missing, run ruff (lint, format) and mypy
#   bash dev.sh check   lint, then test
#   bash dev.sh setup   install only
# Idempotent: a second run installs nothing and starts at once.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

install_system_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
  python3 -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
  # Only the web UI's browser tests need a browser.
  [ "${1:-}" != with-browser ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
  fi
}

install_python_packages() {
  # Reinstall only when pyproject.toml changes.
  local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    echo "installing Python packages into .venv (torch is large: a few minutes the first time)"
    .venv/bin/pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}

setup() {
  install_system_packages "${1:-}"
  install_python_packages
}

# pytest-xdist's options, less those the arguments choose themselves (-n N, --dist; -p no:xdist drops
# them all). Two processes: CI has 2 cores, and much of the suite's time is spent waiting for the
# processes a test starts. A file stays on one process, so its module fixtures start once; each
# process starts its own session fixtures (redis-server on a free port, the live stack).
parallel_options() {
  local arg processes="-n 2" dist="--dist loadfile --no-loadscope-reorder"
  for arg in "$@"; do
    case "$arg" in
      no:xdist) return ;;
      -n | -n* | --numprocesses*) processes="" ;;
      --dist*) dist="" ;;
    esac
  done
  echo "$processes $dist"
}

case "${1:-}" in
  setup) setup ;;
  demo) setup; shift; exec .venv/bin/sweeprank up --demo "$@" ;;
  test)
    setup with-browser
    shift
    # shellcheck disable=SC2046 # the options are separate words
    exec .venv/bin/pytest $(parallel_options "$@") "$@"
    ;;
  lint)
    # Each step stops the script on failure (set -e).
    setup
    echo "== ruff check"
    .venv/bin/ruff check .
    echo "== ruff format --check"
    .venv/bin/ruff format --check .
    echo "== mypy"
    .venv/bin/mypy
    ;;
  check) shift; bash "$0" lint; exec bash "$0" test "$@" ;;
  *) echo "usage: bash dev.sh demo|test|lint|check|setup" >&2; exit 2 ;;
esac
