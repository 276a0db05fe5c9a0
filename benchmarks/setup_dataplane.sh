#!/bin/sh
# Installs what `python -m benchmarks dataplane` needs beyond the venv: haproxy and wrk from Debian packages.
# With --profile it also installs py-spy (PyPI) into the Python given by $PYTHON (default: python3), for the
# profile section. Safe to run again: it installs only what is missing.
set -eu

need=""
command -v haproxy >/dev/null 2>&1 || need="$need haproxy"
command -v wrk >/dev/null 2>&1 || need="$need wrk"
command -v taskset >/dev/null 2>&1 || need="$need util-linux"
if [ -n "$need" ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
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
