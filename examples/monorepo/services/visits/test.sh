#!/bin/sh
# Tests of the visits service, run by shipit with `sh -c` in services/visits. A stand-in for a real test suite.
set -eu

test -f src/app.py
grep -q '^def book_visit(' src/app.py
grep -q '^def get_visit(' src/app.py
# The task definition shipit renders must name the container shipit replaces the image of.
grep -q '"name": "visits"' deploy/task-definition.json
grep -q '"name": "visits"' deploy/task-definition.prod.json
echo "visits: ok"
