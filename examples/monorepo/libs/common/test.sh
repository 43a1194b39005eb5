#!/bin/sh
# Tests of the common library, run by shipit with `sh -c` in libs/common. A stand-in for a real test suite.
set -eu

for f in common/__init__.py common/ids.py common/money.py; do
  test -f "$f" || { echo "missing $f" >&2; exit 1; }
done
grep -q '^def new_id(' common/ids.py
grep -q '^def format_cents(' common/money.py
echo "common: ok"
