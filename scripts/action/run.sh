#!/usr/bin/env bash
# The "run" step of the shipit GitHub Action (action.yml at the repository root): runs
#
#   shipit COMMAND [--branch BRANCH] ARGS...
#
# in the working directory. shipit itself writes the step outputs (`affected`, `matrix`, `all`,
# `count`, `released`) to $GITHUB_OUTPUT and the summary to $GITHUB_STEP_SUMMARY; its exit status is
# the step's (0 ok, 1 a stage failed, 2 bad input).
#
# Inputs, from the step's `env:` (never templated into the script):
#   SHIPIT_ACTION_BIN                the shipit binary (the install step's `path` output)
#   SHIPIT_ACTION_COMMAND            affected, plan, release, retain, deploy or validate
#   SHIPIT_ACTION_BRANCH             passed as --branch (plan and release only); '' for shipit's
#                                    default, GITHUB_REF_NAME
#   SHIPIT_ACTION_ARGS               more arguments, split on whitespace (spaces, tabs, newlines):
#                                    no quotes, escapes or globs are interpreted, so an argument
#                                    cannot contain whitespace
#   SHIPIT_ACTION_WORKING_DIRECTORY  where to run ('' or `.`: the step's directory, the
#                                    workspace)
set -euo pipefail

fail() {
  printf '::error title=shipit action::%s\n' "$1"
  exit 2
}

bin=${SHIPIT_ACTION_BIN:-}
command=${SHIPIT_ACTION_COMMAND:-}
branch=${SHIPIT_ACTION_BRANCH:-}
args=${SHIPIT_ACTION_ARGS:-}
dir=${SHIPIT_ACTION_WORKING_DIRECTORY:-.}

[ -n "$bin" ] || fail "no shipit binary: the install step gave none"

commands="affected, plan, release, retain, deploy, validate"
case "$command" in
  affected | plan | release | retain | deploy | validate) ;;
  *) fail "command: \`$command\` is not a shipit command; use one of $commands" ;;
esac

argv=("$bin" "$command")
if [ -n "$branch" ]; then
  case "$command" in
    plan | release) argv+=(--branch "$branch") ;;
    *) fail "branch: \`shipit $command\` takes no branch; set it only with plan and release" ;;
  esac
fi

# Word splitting on purpose, and nothing else: `read -a` splits on IFS (space, tab, newline) and,
# with -r, keeps backslashes; it never expands globs or variables, so `args` cannot run anything.
extra=()
if [ -n "$args" ]; then
  read -r -d '' -a extra <<<"$args" || true
fi
argv+=("${extra[@]}")

cd -- "$dir" || fail "working-directory: cannot enter \`$dir\`"

# The command line, for the log (the binary's path shortened to its name).
printf '+ shipit'
printf ' %q' "${argv[@]:1}"
printf '\n'

exec "${argv[@]}"
