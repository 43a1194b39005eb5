#!/usr/bin/env bash
# Runs shipit on the example monorepo, in a throwaway git repository. Needs no AWS account and no
# network (beyond cargo fetching dependencies on the first build).
#
# With a Docker engine and Debian's `docker-registry` (the Distribution registry) on the machine, it
# also releases for real: a registry on a free loopback port stands in for ECR, develop is released
# (tests, builds, pushes), then main (a promotion: the same images, new tags), then retention runs.
# Rollouts need ECS, so the demo's copy of ci.toml has no clusters. Without them it shows the plan.
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
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$demo"
}
trap cleanup EXIT
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

# --- the release itself -----------------------------------------------------------------------------
git switch --quiet develop
if command -v docker-registry >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  mkdir -p "$demo/.registry"
  printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$demo/.registry/data" "$port" >"$demo/.registry/config.yml"
  docker-registry serve "$demo/.registry/config.yml" >"$demo/.registry/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 50); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/')" 2>/dev/null; then break; fi
    sleep 0.1
  done
  # The demo's own copy of ci.toml: the local registry instead of ECR, and no ECS clusters.
  sed -i -e "s|^registry = .*|registry = \"oci://127.0.0.1:$port/demo\"|" -e '/^clusters = /d' ci.toml
  echo "\.registry/" >>.git/info/exclude
  git commit --quiet -am "chore: the demo's registry" --date "2025-03-07T09:00:00+00:00"
  run "What a release of develop would do (read-only)" plan --branch develop --base main
  run "Release develop: test, build, push the affected services" release --branch develop --base main
  run "The same release again: nothing to do" release --branch develop --base main
  git switch --quiet main
  git merge --quiet --no-ff -m "Merge branch 'develop'" develop
  run "Release main: unchanged inputs are promoted, not rebuilt" release --branch main --base HEAD~1
  run "Retention, a dry run: what would go and why the rest stays" retain
else
  echo
  echo "(No Docker engine or no docker-registry here: the release itself is skipped."
  echo " On Debian: apt-get install docker-registry, and a running Docker engine.)"
  run "What a release of develop would do, without asking a registry" plan --branch develop --base main --offline
fi
