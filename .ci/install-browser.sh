#!/usr/bin/env bash
# The browser for tests/test_explore_browser.py: Debian's chromium, driven by Playwright for Python
# (installed by the dev extra) through executable_path. Never `playwright install`: it downloads a browser.
exec bash "$(dirname "$0")/install-debian.sh" chromium 'command -v chromium'
