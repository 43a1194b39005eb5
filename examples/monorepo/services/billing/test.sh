#!/bin/sh
# Tests of the billing service, run by shipit with `sh -c` in services/billing. A stand-in for a real test suite.
set -eu

test -f src/invoices.py
grep -q '^def invoice_for_visit(' src/invoices.py
# VERSION holds one plain X.Y.Z version.
grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' VERSION
echo "billing: ok"
