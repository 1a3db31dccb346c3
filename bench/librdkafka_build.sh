#!/usr/bin/env bash
# Builds Debian's librdkafka from its source package: the library, examples/rdkafka_performance (used by
# the benchmarks) and tests/test-runner (librdkafka's own test suite, used by compat/librdkafka/run.sh).
#
# Idempotent and cached: everything lives under bench/tools/ (gitignored; third-party source is never
# committed). A second run with a finished build only prints the paths; a change of the dependency list or
# configure flags (recorded in bench/tools/build.stamp) rebuilds from clean.
#   bench/tools/librdkafka-src/librdkafka-<version>/   unpacked Debian source package, built in place
#   bench/tools/librdkafka.env                         LIBRDKAFKA_{VERSION,SRC,PERF,TEST_RUNNER}=...
#
# Needs, when run as root: a deb-src entry for the machine's Debian sources (added under
# /etc/apt/sources.list.d/ if missing), `apt-get source` and the build dependencies. As a non-root user
# it only builds, and says what is missing.
#
# Environment: LIBRDKAFKA_BUILD_JOBS (default 1; the machine is shared).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/tools"
srcroot="$tools/librdkafka-src"
envfile="$tools/librdkafka.env"
jobs="${LIBRDKAFKA_BUILD_JOBS:-1}"
deps=(build-essential dpkg-dev pkg-config python3 libssl-dev zlib1g-dev libzstd-dev liblz4-dev
  libsasl2-dev libcurl4-openssl-dev rapidjson-dev)
# Changing what the build sees (dependencies, configure flags) must rebuild: the stamp records it.
configure_flags=(--disable-silent-rules)
build_key="deps=${deps[*]} configure=${configure_flags[*]}"

log() { echo "librdkafka_build: $*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# All of the machine's apt source files, one-line (.list) and deb822 (.sources), enabled ones only.
apt_source_files() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && echo "$f"
  done
}

has_deb_src() {
  local f
  while read -r f; do
    grep -Eq '^[[:space:]]*deb-src[[:space:]]|^Types:.*deb-src' "$f" && return 0
  done < <(apt_source_files)
  return 1
}

# A deb-src twin of every enabled Debian "deb" entry (official Debian archives only): deb822 stanzas
# go to riverlog-deb-src.sources, one-line entries to riverlog-deb-src.list.
write_deb_src() {
  local base="/etc/apt/sources.list.d/riverlog-deb-src" f stanzas lines
  stanzas="$(mktemp)" lines="$(mktemp)"
  while read -r f; do
    case "$f" in
      *.sources)
        awk -v RS= -v ORS='\n\n' '/URIs:[^\n]*debian/ { sub(/Types:[^\n]*/, "Types: deb-src"); print }' \
          "$f" >>"$stanzas"
        ;;
      *)
        sed -n -E 's/^[[:space:]]*deb[[:space:]]+(.*debian.*)$/deb-src \1/p' "$f" >>"$lines"
        ;;
    esac
  done < <(apt_source_files)
  if ! [ -s "$stanzas" ] && ! [ -s "$lines" ]; then
    local codename
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\n' \
      "$codename" >"$stanzas"
  fi
  if [ -s "$stanzas" ]; then install -m 0644 "$stanzas" "$base.sources" && log "added $base.sources"; fi
  if [ -s "$lines" ]; then install -m 0644 "$lines" "$base.list" && log "added $base.list"; fi
  rm -f "$stanzas" "$lines"
}

ensure_source() {
  local dir
  dir="$(find "$srcroot" -maxdepth 1 -type d -name 'librdkafka-*' 2>/dev/null | sort | tail -n1)"
  if [ -n "$dir" ] && [ -f "$dir/configure" ]; then
    echo "$dir"
    return
  fi
  if ! is_root && ! has_deb_src; then
    log "no deb-src entry in the apt sources; run once as root to add one"
    exit 1
  fi
  if is_root && ! has_deb_src; then write_deb_src; fi
  if is_root; then apt-get update -qq >/dev/null; fi
  mkdir -p "$srcroot"
  (cd "$srcroot" && apt-get source -qq -o APT::Sandbox::User=root librdkafka >/dev/null)
  find "$srcroot" -maxdepth 1 -type d -name 'librdkafka-*' | sort | tail -n1
}

ensure_build_deps() {
  local missing=() p
  for p in "${deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  if ! is_root; then
    log "missing Debian packages: ${missing[*]} (run 'sudo apt-get install ${missing[*]}')"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "installed: ${missing[*]}"
}

build() {
  local src="$1" stamp="$tools/build.stamp"
  if [ -f "$src/src/librdkafka.a" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$build_key" ]; then
    log "build inputs changed: rebuilding from clean"
    (cd "$src" && make clean >/dev/null 2>&1 || true)
    (cd "$src/tests" && make clean >/dev/null 2>&1 || true)
    rm -f "$src/src/librdkafka.a" "$src/examples/rdkafka_performance" "$src/tests/test-runner"
  fi
  if ! [ -f "$src/src/librdkafka.a" ]; then
    log "configuring and building librdkafka in $src (-j$jobs)"
    (cd "$src" && ./configure "${configure_flags[@]}" >"$tools/configure.log" 2>&1) ||
      { tail -n 30 "$tools/configure.log" >&2; exit 1; }
    (cd "$src" && make -j"$jobs" libs >"$tools/build.log" 2>&1) || { tail -n 30 "$tools/build.log" >&2; exit 1; }
  fi
  if ! [ -x "$src/examples/rdkafka_performance" ]; then
    (cd "$src/examples" && make -j"$jobs" rdkafka_performance >>"$tools/build.log" 2>&1) ||
      { tail -n 30 "$tools/build.log" >&2; exit 1; }
  fi
  if ! [ -x "$src/tests/test-runner" ]; then
    log "building tests/test-runner"
    (cd "$src/tests" && make -j"$jobs" build >>"$tools/build.log" 2>&1) ||
      { tail -n 30 "$tools/build.log" >&2; exit 1; }
  fi
  echo "$build_key" >"$stamp"
}

main() {
  mkdir -p "$tools"
  ensure_build_deps
  local src version
  src="$(ensure_source)"
  version="$(cd "$src" && dpkg-parsechangelog -S Version 2>/dev/null || basename "$src")"
  build "$src"
  cat >"$envfile" <<EOF
LIBRDKAFKA_VERSION=$version
LIBRDKAFKA_SRC=$src
LIBRDKAFKA_PERF=$src/examples/rdkafka_performance
LIBRDKAFKA_TEST_RUNNER=$src/tests/test-runner
EOF
  log "Debian librdkafka $version"
  echo "rdkafka_performance: $src/examples/rdkafka_performance"
  echo "test-runner: $src/tests/test-runner"
}

main "$@"
