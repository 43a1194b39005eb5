#!/usr/bin/env bash
# The "install" step of the shipit GitHub Action (action.yml at the repository root).
#
# Finds the shipit binary the "run" step will use and writes its absolute path as the step output
# `path`:
#   - with the `binary` input, that file (nothing is downloaded);
#   - otherwise the release `version` of shipit for this runner, downloaded from the GitHub releases
#     of shipit-dev/shipit, checked against its published SHA-256, and extracted into
#     $RUNNER_TEMP/shipit-bin, which is also added to $GITHUB_PATH for later steps of the job.
#
# Inputs, from the step's `env:` (never templated into the script):
#   SHIPIT_ACTION_BINARY        path to a prebuilt shipit ('' to download)
#   SHIPIT_ACTION_VERSION       the release to download, X.Y.Z (a leading `v` is accepted)
#   SHIPIT_ACTION_GITHUB_TOKEN  token sent with the download ('' for none)
# and what the runner sets: RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_SERVER_URL, GITHUB_OUTPUT,
# GITHUB_PATH.
#
# Exit status: 0 done, 2 bad input or an unsupported runner, anything else a failed download.
set -euo pipefail

fail() {
  # One clear message, as an annotation, then exit 2 (bad input), as shipit itself does.
  printf '::error title=shipit action::%s\n' "$1"
  exit 2
}

binary=${SHIPIT_ACTION_BINARY:-}
version=${SHIPIT_ACTION_VERSION:-}
token=${SHIPIT_ACTION_GITHUB_TOKEN:-}
: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: this script runs as a step of a GitHub Actions job}"

# --- a prebuilt binary: use it as it is -----------------------------------------------------
if [ -n "$binary" ]; then
  case "$binary" in
    /*) ;;
    # Relative to the step's directory (the workspace), which the run step leaves for
    # `working-directory`.
    *) binary="$PWD/$binary" ;;
  esac
  [ -f "$binary" ] || fail "binary: no file at $binary"
  [ -x "$binary" ] || fail "binary: $binary is not executable"
  printf 'Using the shipit binary at %s\n' "$binary"
  printf 'path=%s\n' "$binary" >>"$GITHUB_OUTPUT"
  exit 0
fi

# --- download a release -----------------------------------------------------------------------
case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  *)
    fail "shipit has release binaries for Linux on X64 and ARM64 runners only, not\
 ${RUNNER_OS:-unknown OS} on ${RUNNER_ARCH:-unknown architecture}: run the job on a Linux runner,\
 or build shipit yourself and pass it as the \`binary\` input"
    ;;
esac

version=${version#v}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  fail "version: \`${SHIPIT_ACTION_VERSION:-}\` is not a release version (X.Y.Z, e.g. 0.1.0)"
: "${RUNNER_TEMP:?RUNNER_TEMP is not set}"

bin_dir="$RUNNER_TEMP/shipit-bin"
marker="$bin_dir/.version"
if [ -x "$bin_dir/shipit" ] && [ "$(cat "$marker" 2>/dev/null)" = "$version-$target" ]; then
  # The action ran before in this job (RUNNER_TEMP is per job): the same release is there already.
  printf 'shipit %s (%s) is installed already\n' "$version" "$target"
else
  server=${GITHUB_SERVER_URL:-https://github.com}
  asset="shipit-$version-$target.tar.gz"
  url="$server/shipit-dev/shipit/releases/download/v$version/$asset"
  work=$(mktemp -d "$RUNNER_TEMP/shipit-download.XXXXXX")
  trap 'rm -rf "$work"' EXIT

  curl_opts=(--fail --silent --show-error --location --retry 3 --proto '=https' --proto-redir '=https')
  download() {
    # The token goes to curl on stdin, never on its command line. curl sends a header given this way
    # to the first host only, not to the storage host a release download redirects to.
    local from=$1 to=$2
    if [ -n "$token" ]; then
      printf 'header = "Authorization: Bearer %s"\n' "$token" |
        curl "${curl_opts[@]}" --config - --output "$to" "$from"
    else
      curl "${curl_opts[@]}" --output "$to" "$from"
    fi
  }

  printf 'Downloading %s\n' "$url"
  download "$url" "$work/$asset" || {
    printf '::error title=shipit action::could not download %s: is v%s a release of %s?\n' \
      "$url" "$version" shipit-dev/shipit
    exit 1
  }
  download "$url.sha256" "$work/$asset.sha256" || {
    printf '::error title=shipit action::could not download %s.sha256\n' "$url"
    exit 1
  }

  # The .sha256 file is `sha256sum` output for the tarball. Only its hash is taken, and checked
  # against the file downloaded under the expected name, so that it cannot vouch for another file.
  read -r expected _ <"$work/$asset.sha256" || true
  [[ "${expected:-}" =~ ^[0-9a-f]{64}$ ]] || {
    printf '::error title=shipit action::%s.sha256 holds no SHA-256\n' "$asset"
    exit 1
  }
  (cd "$work" && printf '%s  %s\n' "$expected" "$asset" | sha256sum --check --strict) || {
    printf '::error title=shipit action::%s does not match its published SHA-256\n' "$asset"
    exit 1
  }

  mkdir -p "$work/x"
  tar -xzf "$work/$asset" -C "$work/x"
  [ -f "$work/x/shipit" ] || {
    printf '::error title=shipit action::%s holds no shipit binary at its root\n' "$asset"
    exit 1
  }
  mkdir -p "$bin_dir"
  install -m 0755 "$work/x/shipit" "$bin_dir/shipit"
  printf '%s\n' "$version-$target" >"$marker"
  printf 'Installed shipit %s (%s) in %s\n' "$version" "$target" "$bin_dir"
fi

if [ -n "${GITHUB_PATH:-}" ]; then
  printf '%s\n' "$bin_dir" >>"$GITHUB_PATH"
fi
printf 'path=%s\n' "$bin_dir/shipit" >>"$GITHUB_OUTPUT"
