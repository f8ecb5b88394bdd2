#!/usr/bin/env bash
# make lint: ruff and pylint-odoo (the OCA checks) on the addon.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/odoo_conf.sh"
cd "$MODULE_DIR/.."
"$VENV/bin/ruff" check --config notify_rules/ruff.toml notify_rules
"$VENV/bin/pylint" --rcfile=notify_rules/.pylintrc notify_rules
