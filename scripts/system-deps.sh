#!/usr/bin/env bash
# Install the system packages the test suite runs for real, where they are missing (Debian).
# With package names as arguments (scripts/system-deps.sh wrk), install only those.
set -euo pipefail
declare -A wanted=(
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [busybox-static]=busybox-static
  [openssl]=openssl
  [docker.io]=docker.io            # dockerd + docker CLI: the tests run a private dockerd
  [docker-compose]=docker-compose  # docker-compose config validates docker-compose.yml
  [wrk]=wrk                        # the closed-loop load of the benchmarks (make bench, tests/bench)
  [chromium]=chromium              # the console's browser tests (Playwright drives it)
  [fonts-dejavu-core]=fonts-dejavu-core  # text in the console's screenshots
)
if [ $# -gt 0 ]; then packages=("$@"); else packages=("${!wanted[@]}"); fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
