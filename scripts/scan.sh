#!/usr/bin/env bash
# An automated vulnerability scan of the portal and the admin area with wapiti, signed in.
#
#   npm run scan                          # both areas, at most 300 s each
#   npm run scan -- --max-scan-time 600   # longer
#   npm run scan -- --modules xss,sql     # other wapiti modules (wapiti --list-modules)
#   npm run scan -- --keep                # keep the scan's database afterwards
#
# What it does (bench/scan.ts): makes a database of its own on DATABASE_URL's server (or the
# embedded PostgreSQL when DATABASE_URL is unset), starts the whole system on it (`inbound start`,
# on free ports of 127.0.0.1), seeds a company, a customer who came in by mail with a file and has
# a portal password, a help article and an admin, signs both in, and runs wapiti against /portal/
# with the customer's session cookie and against /admin/ with the admin's, so that it crawls and
# attacks the signed-in pages. Reports: bench/results/scan/portal.json and admin.json (wapiti's
# JSON), and summary.json (every finding, flat); the findings are printed at the end.
#
# Needs wapiti, Debian's package: `apt-get install -y wapiti` (this script says so when it is
# missing). The ssrf module is left out by default: it asks a server on the internet. Wapiti's bug
# reports are switched off (--no-bugreport).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wapiti >/dev/null 2>&1; then
  echo "scan: wapiti is not installed; on Debian: apt-get install -y wapiti" >&2
  exit 2
fi
exec node bench/scan.ts "$@"
