#!/usr/bin/env bash
# make bench: posting cost of notify rules vs Odoo's own automation rules (see bench/README.md).
# Creates the database nr_bench once (notify_rules installed, no demo data) and reuses it; upgrades the
# module there when the addon's code changed since the last bench. Arguments go to bench/bench_rules.py
# (e.g. `bash scripts/bench.sh --invoices 50 --repeat 1`). With no argument (`make bench`) every bench runs, one
# after the other (the better part of an hour on 2 cores); `--quick` (`make bench-quick`) runs a small version of
# the posting, OTP, IPN, webhook and dispatch benches (242 s on 2 cores, 2026-12-02; 251 s on a slower 2-core
# machine, 2026-12-03).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$HERE/.." && pwd)"
# shellcheck source=scripts/odoo_conf.sh
source "$HERE/odoo_conf.sh"
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
dispatch_bench() { "$VENV/bin/python" "$REPO_DIR/bench/bench_dispatch.py" --db "${NOTIFY_BENCH_DISPATCH_DB:-nr_bench_dispatch}" --config "$ODOO_CONF" "$@"; }
if [ "${1:-}" = "--scale" ]; then shift; exec "$VENV/bin/python" "$REPO_DIR/bench/bench_scale.py" --config "$ODOO_CONF" --odoo-bin "$ODOO_DIR/odoo-bin" --fingerprint "$(addon_fingerprint)" "$@"; fi  # 1M messages, own DB nr_scale (bench/bench_scale.py)
if [ "${1:-}" = "--chaos-pg" ]; then shift; exec "$VENV/bin/python" "$REPO_DIR/bench/chaos_pg.py" --config "$ODOO_CONF" --fingerprint "$(addon_fingerprint)" "$@"; fi  # PostgreSQL connections lost mid-dispatch, own DB nr_chaos (bench/chaos_pg.py)
if [ "${1:-}" = "--dispatch" ]; then shift; exec "$VENV/bin/python" "$REPO_DIR/bench/bench_dispatch.py" --db "${NOTIFY_BENCH_DISPATCH_DB:-nr_bench_dispatch}" --config "$ODOO_CONF" "$@"; fi  # dispatch throughput at 20 ms latency, own DB (bench/bench_dispatch.py)
DB="${NOTIFY_BENCH_DB:-nr_bench}"
case "$DB" in
  nr_bench*) ;;
  *) echo "bench: refusing to use database '$DB' (its name must start with nr_bench)" >&2; exit 2 ;;
esac

# One bench at a time per database: two would toggle each other's rules and share the 2 cores.
exec 9>"$NOTIFY_CACHE/$DB.lock"
if ! flock -n 9; then
  echo "[bench] another bench is running on $DB: waiting for it to finish" >&2
  flock 9
fi

# Fingerprint of the installed code: a change means the cached database needs `-u notify_rules`.
stamp_file="$NOTIFY_CACHE/$DB.stamp"
stamp="$(cd "$REPO_DIR" && find . -path ./bench -prune -o -path ./tests -prune -o -path ./.git -prune \
  -o -type f \( -name '*.py' -o -name '*.xml' -o -name '*.csv' \) -print | LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-16)"

installed() {
  psql -d "$DB" -Atc "select 1 from ir_module_module where name='notify_rules' and state='installed'" 2>/dev/null | grep -q 1
}

# Every default run leaves ~10,000 posted invoices behind; start afresh before the data skews the timings.
max_moves="${NOTIFY_BENCH_MAX_MOVES:-60000}"
moves="$(psql -d "$DB" -Atc "select count(*) from account_move" 2>/dev/null || echo 0)"
if [ "${moves:-0}" -gt "$max_moves" ]; then
  echo "[bench] $DB holds $moves journal entries from earlier benches: recreating it" >&2
  dropdb "$DB"
fi

if ! installed; then
  echo "[bench] creating database $DB with notify_rules (a few minutes, once)" >&2
  dropdb --if-exists "$DB"
  "${ODOO_BIN[@]}" -d "$DB" -i notify_rules --without-demo=all --stop-after-init --log-level=warn
  installed || { echo "bench: notify_rules did not install in $DB" >&2; exit 1; }
  echo "$stamp" > "$stamp_file"
elif [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
  echo "[bench] the addon changed since the last bench: upgrading notify_rules in $DB" >&2
  "${ODOO_BIN[@]}" -d "$DB" -u notify_rules --stop-after-init --log-level=warn
  echo "$stamp" > "$stamp_file"
fi

cd "$REPO_DIR"
case ":${PYTHONPATH:-}:" in *":$ODOO_DIR:"*) ;; *) export PYTHONPATH="$ODOO_DIR${PYTHONPATH:+:$PYTHONPATH}" ;; esac
if [ "${1:-}" = "--intents" ]; then  # the cost of each way of writing the intents (bench/bench_intents.py)
  shift
  exec "$VENV/bin/python" bench/bench_intents.py --db "$DB" --config "$ODOO_CONF" "$@"
fi
if [ "${1:-}" = "--otp" ]; then  # OTP API round trips next to /web/health (bench/bench_otp.py)
  shift
  exec "$VENV/bin/python" bench/bench_otp.py --db "$DB" --config "$ODOO_CONF" "$@"
fi
if [ "${1:-}" = "--ipn" ]; then  # Intech IPNs next to /web/health, Odoo with 2 workers (bench/bench_ipn.py)
  shift
  exec "$VENV/bin/python" bench/bench_ipn.py --db "$DB" --config "$ODOO_CONF" "$@"
fi
if [ "${1:-}" = "--wazzup" ]; then  # Wazzup status webhooks next to /web/health, Odoo with 2 workers (bench/bench_wazzup.py)
  shift
  exec "$VENV/bin/python" bench/bench_wazzup.py --db "$DB" --config "$ODOO_CONF" "$@"
fi
if [ "$QUICK" = 1 ]; then  # make bench-quick: every HTTP and dispatch bench, small
  "$VENV/bin/python" bench/bench_rules.py --db "$DB" --config "$ODOO_CONF" --invoices 50 --repeat 1
  "$VENV/bin/python" bench/bench_otp.py --db "$DB" --config "$ODOO_CONF" --round-trips 50
  "$VENV/bin/python" bench/bench_ipn.py --db "$DB" --config "$ODOO_CONF" --operations 100
  "$VENV/bin/python" bench/bench_wazzup.py --db "$DB" --config "$ODOO_CONF" --messages 100
  dispatch_bench --messages 2000
  exit 0
fi
"$VENV/bin/python" bench/bench_rules.py --db "$DB" --config "$ODOO_CONF" "$@"
if [ $# -eq 0 ]; then  # the default `make bench` runs every bench: the OTP API, the Intech IPN route, Wazzup's
  # webhooks, dispatch throughput (and at WAP's rate limit), a million messages with a purge, PostgreSQL lost
  "$VENV/bin/python" bench/bench_otp.py --db "$DB" --config "$ODOO_CONF"
  "$VENV/bin/python" bench/bench_ipn.py --db "$DB" --config "$ODOO_CONF"
  "$VENV/bin/python" bench/bench_wazzup.py --db "$DB" --config "$ODOO_CONF"
  dispatch_bench
  dispatch_bench --concurrency 100
  dispatch_bench --rate-limited --minutes 5
  "$VENV/bin/python" "$REPO_DIR/bench/bench_scale.py" --config "$ODOO_CONF" --odoo-bin "$ODOO_DIR/odoo-bin" \
    --fingerprint "$(addon_fingerprint)" --purge
  "$VENV/bin/python" "$REPO_DIR/bench/chaos_pg.py" --config "$ODOO_CONF" --fingerprint "$(addon_fingerprint)"
fi
