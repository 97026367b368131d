#!/usr/bin/env bash
# The browser for tests/test_explore_browser.py: Debian's chromium, driven by Playwright for Python
# (installed by the dev extra) through executable_path. Never `playwright install`: it downloads a browser.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
chromium --version
