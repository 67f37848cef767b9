#!/usr/bin/env bash
# benchmarks/gpu.py on a bare GPU machine that has torch and the scientific stack (numpy, pandas,
# matplotlib, tensorboard, ...) but not this project's other packages, and no network.
#
#   bash benchmarks/gpu.sh wheels                          # here, with network: fill build/gpu-wheels
#   bash benchmarks/gpu.sh --device cuda --out results/gpu  # there: install them, run gpu.py
#
# "wheels" puts in build/gpu-wheels (git-ignored; about 2.5 MB) the pure-Python wheels of the
# packages such a machine lacks, at the versions of this checkout's .venv (rliable has no wheel
# on PyPI: pip builds one). Running installs whatever is there into /tmp/gf-site (first on
# PYTHONPATH) and runs `python3 -m benchmarks.gpu` with the arguments given. rliable is there only
# for `import agents`'s check of its extra: the cell never imports it (nor arch, which fails to
# import on pandas 3).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=build/gpu-wheels
PACKAGES="gymnasium farama-notifications stable-baselines3 sb3-contrib mlxtend tyro docstring-parser
typeguard rliable"

if [ "${1:-}" = wheels ]; then
    python=${PYTHON:-.venv/bin/python}
    # shellcheck disable=SC2086  # one argument per package
    specs=$("$python" -c 'import sys, importlib.metadata as m
print(" ".join(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' $PACKAGES)
    mkdir -p "$WHEELS"
    # shellcheck disable=SC2086
    "$python" -m pip wheel -q --no-deps -w "$WHEELS" $specs
    ls "$WHEELS"
    exit
fi

if compgen -G "$WHEELS/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gf-site "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/gf-site${PYTHONPATH:+:$PYTHONPATH}
fi
PYTHONUNBUFFERED=1 exec python3 -m benchmarks.gpu "$@"
