#!/usr/bin/env bash
# Runs shipit on the example monorepo, in a throwaway git repository. Needs no AWS account, no Docker
# and no network (beyond cargo fetching dependencies on the first build).
#
#   bash examples/demo.sh
#
# It builds shipit, copies examples/monorepo to a temporary directory, makes it a git repository with a
# `main` branch and a `develop` branch three commits ahead, and shows what `shipit affected` selects.
# The temporary directory is removed at exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

echo "Building shipit (cargo build --bin shipit)..."
cargo build --quiet --bin shipit
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in
  /*) ;;
  *) target_dir="$root/$target_dir" ;;
esac
shipit="$target_dir/debug/shipit"

demo=$(mktemp -d "${TMPDIR:-/tmp}/shipit-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT
cp -R examples/monorepo/. "$demo/"
cd "$demo"

# A fixed identity and fixed dates, passed through the environment: the demo reads no personal git
# config and writes none.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Demo Author" GIT_AUTHOR_EMAIL="demo@example.com"
export GIT_COMMITTER_NAME="Demo Author" GIT_COMMITTER_EMAIL="demo@example.com"
# Show plain terminal output even when the demo itself runs under GitHub Actions.
unset GITHUB_ACTIONS GITHUB_EVENT_NAME GITHUB_EVENT_PATH GITHUB_OUTPUT GITHUB_STEP_SUMMARY

commit() { # DATE MESSAGE
  git add -A
  GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1" git commit --quiet -m "$2"
}

git init --quiet --initial-branch=main
commit "2025-03-03T09:00:00+00:00" "chore: import the example monorepo"

git switch --quiet --create develop

cat >services/visits/src/reminders.py <<'EOF'
"""Reminders: tell a patient about a visit the day before."""

from datetime import datetime, timedelta


def reminder_time(visit):
    starts_at = datetime.fromisoformat(visit["starts_at"])
    return starts_at - timedelta(days=1)
EOF
commit "2025-03-04T10:00:00+00:00" "feat(visits): remind patients the day before a visit"

# libs/common is used by visits and billing, so this fix affects both of them too.
sed 's/{currency}"/{currency.upper()}"/' libs/common/common/money.py >libs/common/common/money.py.new
mv libs/common/common/money.py.new libs/common/common/money.py
commit "2025-03-05T11:00:00+00:00" "fix(common): print currency codes in upper case"

printf '\nSee docs/runbook.txt when visits cannot be booked.\n' >>services/visits/README.md
commit "2025-03-06T12:00:00+00:00" "docs: point to the visits runbook"

echo
echo "The example repository:"
echo "  main     $(git log -1 --format='%h %s' main)"
echo "  develop  three more commits, and the files they touch:"
git log --reverse --format='    %h %s' --name-only main..develop | sed -e '/^$/d' -e 's/^\([^ ]\)/        \1/'

run() { # HEADING ARGS...
  local heading=$1
  shift
  echo
  echo "== $heading"
  echo "\$ shipit $*"
  "$shipit" "$@"
}

run "Check ci.toml and what it points at" validate
run "What develop changes, and why each service is selected" affected --base main --head develop --explain
run "The last commit only touches a README (ignored): nothing is affected" affected --base HEAD~1 --head HEAD
run "The same selection as JSON" affected --base main --head develop --format json
run "As a GitHub Actions matrix, one job per service" affected --base main --head develop --format matrix
run "Just the names, one a line" affected --base main --head develop --format names
