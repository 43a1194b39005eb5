#!/usr/bin/env bash
# Runs shipit on the example monorepo, in a throwaway git repository. Needs no AWS account and no
# network (beyond cargo fetching dependencies on the first build, and apt on a Debian machine that
# lacks the registry or cmake, which building shipit needs).
#
# It releases for real: Debian's `docker-registry` (the Distribution registry) on a free loopback port
# stands in for ECR, and the Docker engine builds the images. When `docker-registry` is missing and
# this runs as root on Debian, it is installed with apt-get (as scripts/test does). Then develop is
# released (tests, builds, pushes, retention), released again (nothing to do), merged to main (a
# promotion: the same images, new tags), and retention runs on its own. Rollouts need ECS: `plan`
# shows which clusters each service would roll out to, and the release skips that stage.
#
#   bash examples/demo.sh
#
# It builds shipit, copies examples/monorepo to a temporary directory, makes it a git repository with a
# `main` branch and a `develop` branch three commits ahead, and shows what `shipit affected` selects.
# The temporary directory and the registry are removed at exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# SHIPIT_DEMO_BIN runs a shipit built already (the test suite does) instead of building one.
if [ -n "${SHIPIT_DEMO_BIN:-}" ]; then
  shipit=$SHIPIT_DEMO_BIN
else
  # Building shipit needs cmake (for zlib-ng, the zlib that libgit2 is linked with).
  if ! command -v cmake >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing Debian's cmake, which building shipit needs..."
      export DEBIAN_FRONTEND=noninteractive
      { apt-get update -qq >/dev/null && apt-get install -y -qq cmake >/dev/null; } ||
        { echo "demo: apt-get install cmake failed" >&2; exit 2; }
    else
      echo "demo: cmake is missing, and building shipit needs it: install it (Debian/Ubuntu: sudo apt-get install cmake)" >&2
      exit 2
    fi
  fi
  echo "Building shipit (cargo build --bin shipit)..."
  cargo build --quiet --bin shipit
  target_dir=${CARGO_TARGET_DIR:-target}
  case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
  esac
  shipit="$target_dir/debug/shipit"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/shipit-demo.XXXXXX")
demo="$work/repo"
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- what a real release needs: a Docker engine and a registry ------------------------------------
# The engine is asked through its API (/_ping on DOCKER_HOST, else the default socket), as shipit
# asks it: the `docker` command-line client is not needed.
engine_answers() {
  python3 - <<'PY'
import os, socket, sys
host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
try:
    if host.startswith("unix://"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(host[len("unix://"):])
    elif host.startswith("tcp://"):
        addr = host[len("tcp://"):].rstrip("/")
        h, _, p = addr.rpartition(":")
        s = socket.create_connection((h or addr, int(p or 2375)), timeout=5)
    else:
        sys.exit(1)
    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    sys.exit(0 if s.recv(64).split(b" ")[1:2] == [b"200"] else 1)
except Exception:
    sys.exit(1)
PY
}
why_not=
if ! engine_answers; then
  why_not="no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock} (start one, or set DOCKER_HOST)"
elif ! command -v docker-registry >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's docker-registry (the Distribution registry) to stand in for ECR..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq docker-registry >/dev/null ||
      why_not="apt-get install docker-registry failed"
  else
    why_not="docker-registry is missing: install it (Debian/Ubuntu: sudo apt-get install docker-registry)"
  fi
fi
port=
if [ -z "$why_not" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  mkdir -p "$work/registry"
  printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$work/registry/data" "$port" >"$work/registry/config.yml"
  docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
  registry_pid=$!
  up=false
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/', timeout=1)" 2>/dev/null; then
      up=true
      break
    fi
    sleep 0.1
  done
  $up || why_not="docker-registry did not start: $(tail -n 1 "$work/registry/log")"
fi

cp -R examples/monorepo/. "$demo/"
cd "$demo"
if [ -z "$why_not" ]; then
  # The demo's copy of ci.toml: the local registry instead of ECR, and no ECS clusters (a release
  # would roll out to them, and retention asks ECS what runs there). A copy that keeps the clusters,
  # outside the repository, lets `plan` show the rollout a real setup would do.
  sed -e "s|^registry = .*|registry = \"oci://127.0.0.1:$port/demo\"|" ci.toml >"$work/ci.with-ecs.toml"
  sed -e '/^clusters = /d' "$work/ci.with-ecs.toml" >ci.toml
fi

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

# --- starting from scratch: shipit init --------------------------------------------------------------
fresh="$work/fresh"
mkdir -p "$fresh"
git archive main | tar -x -C "$fresh"
rm "$fresh/ci.toml"
git -C "$fresh" init --quiet --initial-branch=main
(
  cd "$fresh"
  run "Starting from scratch: shipit init on a copy without ci.toml" init
  echo "(It found what the hand-written ci.toml lists; tests/it/init.rs checks both select the same.)"
)

# --- the release itself -----------------------------------------------------------------------------
if [ -n "$why_not" ]; then
  echo
  echo "(The release itself is skipped: $why_not.)"
  run "What a release of develop would do, without asking a registry" plan --branch develop --base main --offline
  exit 0
fi

echo
echo "The demo's ci.toml sends images to a registry on 127.0.0.1:$port (standing in for ECR) and lists"
echo "no ECS clusters; the rollout stage needs ECS (an AWS account), so releases here skip it."
git switch --quiet develop
run "What a release of develop would do (read-only)" plan --branch develop --base main
run "Release develop: test, build, push, retain the affected services" release --branch develop --base main
run "The same release again: nothing to do" release --branch develop --base main
git switch --quiet main
GIT_AUTHOR_DATE="2025-03-07T09:00:00+00:00" GIT_COMMITTER_DATE="2025-03-07T09:00:00+00:00" \
  git merge --quiet --no-ff -m "Merge branch 'develop'" develop
run "What a release of main would do with ECS: promote, then roll out to these clusters" \
  --config "$work/ci.with-ecs.toml" plan --branch main --base HEAD~1
echo "(Rollout skipped: it needs ECS. With clusters, each service above gets a new revision of its task"
echo " definition running its prod-X.Y.Z image, rolled out on the clusters after the arrow.)"
run "Release main: unchanged inputs are promoted, not rebuilt" release --branch main --base HEAD~1
run "Retention, a dry run: what would go and why the rest stays" retain

echo
echo "== The registry's tags (GET /v2/_catalog and /v2/NAME/tags/list on 127.0.0.1:$port)"
python3 - "$port" <<'PY'
import json, sys, urllib.request
base = "http://127.0.0.1:%s/v2/" % sys.argv[1]
get = lambda path: json.load(urllib.request.urlopen(base + path, timeout=10))
for name in get("_catalog").get("repositories") or []:
    tags = sorted(get(name + "/tags/list").get("tags") or [])
    print("  %-28s %s" % (name, " ".join(tags)))
PY
