#!/usr/bin/env bash
# make test: set-up, a fresh test database with notify_rules installed, then the whole suite via pytest-odoo;
# then the crm tests in a copy of that database with crm installed (see below).
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

# Two phases. The main one installs notify_rules alone (crm is not a dependency: this proves the addon works
# without it) and runs tests/ except tests/crm. The crm phase runs tests/crm (deals, pipelines, createDeal, the
# lead's composer) in a second database with crm installed: a copy of the main one taken right after its install
# (database and filestore, as Odoo's "duplicate database" does), plus `-i crm`, which is much quicker than a second
# install of everything. It runs in the full run only (`make test`, CI); with NOTIFY_TEST_PATHS only when
# NOTIFY_TEST_CRM=1 (NOTIFY_TEST_CRM=only: the crm phase alone; NOTIFY_TEST_CRM=0: never). Its database is
# ${DB}_crm (NOTIFY_TEST_CRM_DB to name another), on the same HTTP port. The exit code is non-zero when either
# phase fails.
CRM_DB="${NOTIFY_TEST_CRM_DB:-${DB}_crm}"
run_main=1
run_crm=0
[ -z "${NOTIFY_TEST_PATHS:-}" ] && run_crm=1
case "${NOTIFY_TEST_CRM:-}" in
  1) run_crm=1 ;;
  0) run_crm=0 ;;
  only) run_crm=1; run_main=0 ;;
esac
FILESTORE="${NOTIFY_CACHE:?}/data/filestore"

started=$SECONDS
echo "[test] fresh database $DB"
dropdb --if-exists "$DB"
"${ODOO_BIN[@]}" -d "$DB" -i notify_rules --without-demo=all --stop-after-init --log-level=warn
echo "[test] $DB installed in $((SECONDS - started)) s"
if [ "$run_crm" = 1 ]; then
  started=$SECONDS
  echo "[test] fresh database $CRM_DB: a copy of $DB, with crm"
  dropdb --if-exists "$CRM_DB"
  createdb -T "$DB" "$CRM_DB"
  rm -rf "${FILESTORE:?}/$CRM_DB"
  if [ -d "$FILESTORE/$DB" ]; then cp -a "$FILESTORE/$DB" "$FILESTORE/$CRM_DB"; fi
  "${ODOO_BIN[@]}" -d "$CRM_DB" -i crm --without-demo=all --stop-after-init --log-level=warn
  echo "[test] $CRM_DB made in $((SECONDS - started)) s"
fi
cd "$MODULE_DIR"
set +e
rc_main=0
if [ "$run_main" = 1 ]; then
  started=$SECONDS
  echo "[test] running the suite (without crm)"
  # NOTIFY_TEST_PATHS: run only some test files, relative to the addon (development); CI and `make test` run the
  # whole suite. Paths go through the addons path, where the checkout is named notify_rules.
  paths=("$MODULE_DIR/tests")
  if [ -n "${NOTIFY_TEST_PATHS:-}" ]; then
    paths=()
    for p in $NOTIFY_TEST_PATHS; do paths+=("$MODULE_DIR/$p"); done
  fi
  "$VENV/bin/python" -m pytest "${paths[@]}" --ignore="$MODULE_DIR/tests/crm" -p no:cacheprovider \
    --odoo-config="$ODOO_CONF" --odoo-database="$DB" --odoo-http --odoo-log-level=warn -q -rfEs "$@"
  rc_main=$?
  echo "[test] suite without crm: exit code $rc_main, $((SECONDS - started)) s"
fi
rc_crm=0
if [ "$run_crm" = 1 ]; then
  started=$SECONDS
  echo "[test] running the crm tests (tests/crm) on $CRM_DB"
  "$VENV/bin/python" -m pytest "$MODULE_DIR/tests/crm" -p no:cacheprovider --odoo-config="$ODOO_CONF" \
    --odoo-database="$CRM_DB" --odoo-http --odoo-log-level=warn -q -rfEs "$@"
  rc_crm=$?
  echo "[test] crm tests: exit code $rc_crm, $((SECONDS - started)) s"
fi
set -e
if [ "$rc_main" != 0 ]; then exit "$rc_main"; fi
exit "$rc_crm"
