#!/usr/bin/env bash
# Installs everything the tests need (Python packages, Debian's Chromium for the browser test and nginx for the
# deployment test),
# then lints and runs the whole suite. Slow tests run when ADVDEMO_MNIST names the full MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null
  else
    (sudo apt-get update -qq && sudo apt-get install -y -qq chromium) >/dev/null
  fi
fi
if ! [ -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq nginx) >/dev/null
  else
    (sudo apt-get update -qq && sudo apt-get install -y -qq nginx) >/dev/null
  fi
fi
python -m ruff check .
# Two test processes that take the next test as each one finishes (a file's servers and caches are made in each
# process that runs one of its tests); ADVDEMO_TEST_WORKERS=0 runs everything in this process.
python -m pytest -q -p no:cacheprovider -n "${ADVDEMO_TEST_WORKERS:-2}" --dist worksteal "$@"
