#!/usr/bin/env bash
# Automatic failover with pg_auto_failover, reproduced: a monitor and two data nodes (the
# secondary synchronous) on 127.0.0.1, `deployledger serve --workers 2` on the multi-host URL
# (target_session_attrs=read-write), 20 clients posting 3,000 reports; mid-load the
# primary's machine is lost (SIGKILL of its pg_autoctl and its postmaster) and the monitor
# promotes the secondary. It runs tests/e2e/test_auto_failover.py and prints its figures.
# Needs Debian's PostgreSQL server packages; installs pg_auto_failover if missing (apt-get).
# Run as root (the servers then run as `postgres`) or as a user that may run PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/../.."
make --no-print-directory .venv/.dev autofailover
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
.venv/bin/pytest -q -p no:randomly -p no:cacheprovider -s tests/e2e/test_auto_failover.py \
  >"$log" 2>&1 || status=$?
# The formation after the failover, the load's summary and the figures.
sed -n '/^ *Name |  *Node/,/^$/p' "$log"
grep -E ' requests for |automatic failover:|passed|failed|Error' "$log" \
  | sed 's/; /;\n  /g' || true
if [ "$status" -ne 0 ]; then
  tail -60 "$log"
fi
exit "$status"
