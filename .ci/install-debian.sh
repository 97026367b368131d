#!/usr/bin/env bash
# Installs one Debian package the test suite drives, unless PROBE (a shell test) says it is there already.
#   bash .ci/install-debian.sh PACKAGE 'PROBE'      e.g. chromium 'command -v chromium'
set -euo pipefail
package=$1 probe=$2
if eval "$probe" >/dev/null 2>&1; then
  echo "$package already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "$package" >/dev/null
eval "$probe" >/dev/null || { echo "$package: installed, but '$probe' still fails" >&2; exit 1; }
echo "$package installed"
