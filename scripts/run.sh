#!/usr/bin/env bash
# make run: set-up, demo database (once), provider simulator, Odoo on localhost:8069.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/odoo_conf.sh"
DB="${NOTIFY_DEMO_DB:-notify_rules_demo}"
SIM_PORT="${NOTIFY_SIM_PORT:-8079}"
HTTP_PORT="${NOTIFY_HTTP_PORT:-8069}"

stamp_file="$NOTIFY_CACHE/$DB.stamp"
if ! psql -d "$DB" -Atc "select 1 from ir_module_module where name='notify_rules' and state='installed'" 2>/dev/null | grep -q 1; then
  echo "[run] creating demo database $DB with notify_rules and demo data (about a minute)"
  dropdb --if-exists "$DB"
  "${ODOO_BIN[@]}" -d "$DB" -i notify_rules --stop-after-init --log-level=warn
  addon_fingerprint > "$stamp_file"
elif [ "$(cat "$stamp_file" 2>/dev/null)" != "$(addon_fingerprint)" ]; then
  echo "[run] the addon changed since the last run: upgrading notify_rules in $DB"
  "${ODOO_BIN[@]}" -d "$DB" -u notify_rules --stop-after-init --log-level=warn
  addon_fingerprint > "$stamp_file"
fi

echo "[run] provider simulator on http://127.0.0.1:$SIM_PORT"
"$VENV/bin/python" "$MODULE_DIR/tests/simulator/__main__.py" --port "$SIM_PORT" &
SIM_PID=$!
trap 'kill $SIM_PID 2>/dev/null || true' EXIT
echo "[run] Odoo on http://localhost:$HTTP_PORT (login admin / admin); Ctrl-C to stop"
"${ODOO_BIN[@]}" -d "$DB" --db-filter="^$DB\$" --http-port "$HTTP_PORT" --http-interface 127.0.0.1 --log-level=info
