#!/usr/bin/env bash
# Regenerates the web console's screenshots in docs/console/ (dashboard, tools, hooks,
# plugin page): runs the browser test (host/cli/tests/all/console.rs), which saves them when
# AIRLOCK_CONSOLE_SCREENSHOTS names a folder. Needs what `bash scripts/test.sh` installs:
# Chromium and tests/console's playwright-core.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix tests/console --ignore-scripts --no-audit --no-fund --loglevel=error
mkdir -p docs/console
AIRLOCK_CONSOLE_SCREENSHOTS="$PWD/docs/console" \
  cargo test -p airlock-cli --test all -- --exact console::the_console_works_in_a_real_browser
ls -l docs/console
