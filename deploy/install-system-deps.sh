#!/usr/bin/env bash
# Installs the system packages prefstream needs from Debian, only those that are missing.
# Java runs the Kafka broker; Maven fetches its jars from Maven Central.
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
[ "$#" -gt 0 ] && for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 3
fi
echo "installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
