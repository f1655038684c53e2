#!/usr/bin/env bash
# The cluster tests (test/cluster/) start their own redis-server (a real one, never a mock): install the Debian
# package when it is missing. Prints the path of redis-server.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  echo "installing redis-server (apt)" >&2
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >&2
  # The package starts a system service where systemd runs; the tests start their own servers on free ports.
fi
command -v redis-server
