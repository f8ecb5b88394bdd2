#!/usr/bin/env bash
# make test: set-up, a fresh test database with notify_rules installed, then the whole suite via pytest-odoo.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/odoo_conf.sh"
DB="${NOTIFY_TEST_DB:-notify_rules_test}"

echo "[test] fresh database $DB"
dropdb --if-exists "$DB"
"${ODOO_BIN[@]}" -d "$DB" -i notify_rules --without-demo=all --stop-after-init --log-level=warn
echo "[test] running the suite"
cd "$MODULE_DIR"
set +e
"$VENV/bin/python" -m pytest "$MODULE_DIR/tests" -p no:cacheprovider --odoo-config="$ODOO_CONF" \
  --odoo-database="$DB" --odoo-http --odoo-log-level=warn -q -rfEs "$@"
rc=$?
set -e
exit $rc
