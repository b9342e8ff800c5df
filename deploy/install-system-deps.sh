#!/usr/bin/env bash
# Installs the Debian packages prefstream needs, only those that are missing.
#   java, maven   run the Kafka broker; Maven fetches its jars from Maven Central
#   postgresql    the real PostgreSQL server the SQL sink's tests start on loopback
#   chromium      the headless browser of the preference-center page tests
#   (arguments)   more packages, e.g. `make bench` asks for wrk, its HTTP load generator
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
for pkg in postgresql chromium "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 3
fi
echo "installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
