#!/usr/bin/env bash
# make run: set-up, demo database (once), provider simulator, Odoo on localhost:8069.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/odoo_conf.sh"
DB="${NOTIFY_DEMO_DB:-notify_rules_demo}"
SIM_PORT="${NOTIFY_SIM_PORT:-8079}"
HTTP_PORT="${NOTIFY_HTTP_PORT:-8069}"

stamp_file="$NOTIFY_CACHE/$DB.stamp"
# The demo speaks its users' languages: French (Cameroon, Mauritania) and Arabic (Mauritania).
DEMO_LANGS="fr_FR,ar_001,en_US"  # the first is the default language of new contacts; English stays available
demo_ready() {  # notify_rules installed with the current demo (its Mauritanian company came with the languages)
  psql -d "$DB" -Atc "select 1 from ir_module_module m join ir_model_data d on d.module = m.name
                      where m.name = 'notify_rules' and m.state = 'installed' and d.name = 'demo_company_sn'" \
    2>/dev/null | grep -q 1
}
if ! demo_ready; then
  echo "[run] creating demo database $DB with notify_rules, l10n_cm, l10n_sn, French, Arabic and demo data (a few minutes)"
  dropdb --if-exists "$DB"
  # 1. Odoo with the languages (and Odoo's own translations) and the Cameroonian accounting, which the addon does
  #    not depend on. In one run with notify_rules, Odoo would install l10n_cm after notify_rules' demo data, which
  #    loads l10n_cm's chart onto the Cameroonian company. (l10n_cm's own demo adds Odoo's "CM Company".)
  #    Odoo 18 has no l10n_mr: the Mauritanian company uses the generic chart. l10n_sn: the Senegalese company's.
  "${ODOO_BIN[@]}" -d "$DB" -i l10n_cm,l10n_sn --load-language="$DEMO_LANGS" --stop-after-init --log-level=warn
  # 2. The addon and its demo data; its i18n/fr.po and i18n/ar.po load for the installed languages. The demo
  #    loads its companies' charts during the install, which account warns about in general ("Incorrect usage of
  #    try_loading without a fully loaded registry"): here every module a chart needs is loaded by then.
  "${ODOO_BIN[@]}" -d "$DB" -i notify_rules --stop-after-init --log-level=warn \
    --log-handler=odoo.addons.account.models.chart_template:ERROR
  # Odoo installs a module whose demo data fails without it, with only a warning: say it and stop.
  demo_ready || { echo "[run] the demo data of notify_rules failed to load (see the traceback above)" >&2; exit 1; }
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
