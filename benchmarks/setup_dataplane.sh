#!/bin/sh
# Installs what `python -m benchmarks dataplane` needs beyond the venv: haproxy and wrk (Debian packages).
# With --profile, also the profilers of its profile section: perf (Debian: linux-perf) and py-spy (PyPI, into the
# Python given by $PYTHON, default python3: use the venv's, e.g. PYTHON=/work/venv/bin/python).
# Safe to run again: it installs only what is missing.
set -eu

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
need=""
command -v haproxy >/dev/null 2>&1 || need="$need haproxy"
command -v wrk >/dev/null 2>&1 || need="$need wrk"
command -v taskset >/dev/null 2>&1 || need="$need util-linux"
if [ "${1:-}" = "--profile" ]; then
    command -v perf >/dev/null 2>&1 || need="$need linux-perf"
fi
if [ -n "$need" ]; then
    echo "installing:$need"
    $sudo apt-get update
    # shellcheck disable=SC2086 # word splitting of $need is intended
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $need
fi

if [ "${1:-}" = "--profile" ]; then
    "${PYTHON:-python3}" -m pip install py-spy
fi

haproxy -v | head -n 1
wrk --version 2>&1 | head -n 1 || true
