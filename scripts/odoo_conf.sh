# Sourced by run.sh, test.sh and bench: loads the set-up's env file and writes an Odoo config for it.
# shellcheck shell=bash
ENV_FILE="$("$(dirname "${BASH_SOURCE[0]}")/setup.sh")"
# shellcheck disable=SC1090
source "$ENV_FILE"
ODOO_CONF="$NOTIFY_CACHE/odoo.conf"
export PYTHONPATH="$ODOO_DIR${PYTHONPATH:+:$PYTHONPATH}"
cat > "$ODOO_CONF" <<CONF
[options]
addons_path = $ADDONS_PATH
data_dir = $NOTIFY_CACHE/data
db_host = False
db_port = False
list_db = True
log_level = warn
CONF
ODOO_BIN=("$VENV/bin/python" "$ODOO_DIR/odoo-bin" -c "$ODOO_CONF")

# Fingerprint of the addon's installable code: when it changes, a cached database needs `-u notify_rules`.
addon_fingerprint() {
  (cd "$MODULE_DIR" && find . -path ./bench -prune -o -path ./tests -prune -o -path ./.git -prune \
    -o -type f \( -name '*.py' -o -name '*.xml' -o -name '*.csv' -o -name '*.po' -o -name '*.js' \) -print \
    | LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-16)
}
