#!/usr/bin/env bash
# make test: set-up, a fresh test database with notify_rules installed, then the whole suite via pytest-odoo.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/odoo_conf.sh"
DB="${NOTIFY_TEST_DB:-notify_rules_test}"
# Several suites may run side by side on one machine: each with its own database and HTTP port.
if [ -n "${NOTIFY_TEST_HTTP_PORT:-}" ]; then
  TEST_CONF="$NOTIFY_CACHE/odoo-$DB.conf"
  { cat "$ODOO_CONF"; echo "http_port = $NOTIFY_TEST_HTTP_PORT"; } > "$TEST_CONF"
  ODOO_CONF="$TEST_CONF"
  ODOO_BIN=("$VENV/bin/python" "$ODOO_DIR/odoo-bin" -c "$ODOO_CONF")
fi

echo "[test] fresh database $DB"
dropdb --if-exists "$DB"
"${ODOO_BIN[@]}" -d "$DB" -i notify_rules --without-demo=all --stop-after-init --log-level=warn
echo "[test] running the suite"
cd "$MODULE_DIR"
set +e
# NOTIFY_TEST_PATHS: run only some test files, relative to the addon (development); CI and `make test` run the
# whole suite. Paths go through the addons path, where the checkout is named notify_rules.
paths=("$MODULE_DIR/tests")
if [ -n "${NOTIFY_TEST_PATHS:-}" ]; then
  paths=()
  for p in $NOTIFY_TEST_PATHS; do paths+=("$MODULE_DIR/$p"); done
fi
"$VENV/bin/python" -m pytest "${paths[@]}" -p no:cacheprovider --odoo-config="$ODOO_CONF" \
  --odoo-database="$DB" --odoo-http --odoo-log-level=warn -q -rfEs "$@"
rc=$?
set -e
exit $rc
