#!/usr/bin/env bash
# Installs PostgreSQL and Redis with apt-get when they are missing. The tests start their
# own throwaway servers from these binaries; nothing is left running.
set -u
have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_redis() { command -v redis-server >/dev/null 2>&1; }

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing ${missing[*]} with apt-get"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo -n)
if "${sudo_cmd[@]}" apt-get update -qq && \
   DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null; then
  # Debian starts the packaged services; the tests use their own throwaway servers.
  command -v service >/dev/null && { service redis-server stop; service postgresql stop; } >/dev/null 2>&1
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "could not install ${missing[*]}: the PostgreSQL- and Redis-backed tests cannot run" >&2
  exit 1
fi
echo "warning: ${missing[*]} missing; their tests will be skipped (they fail under CI=true)" >&2
