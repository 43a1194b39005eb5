#!/bin/sh
# Tests of the web frontend, run by shipit with `sh -c` in services/web. A stand-in for a real test suite.
set -eu

test -f public/index.html
grep -q 'id="root"' public/index.html
grep -q 'REACT_APP_API_URL' src/index.js
grep -q '"name": "web"' package.json
echo "web: ok"
