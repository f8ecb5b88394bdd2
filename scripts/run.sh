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
DEMO_LANGS="fr_FR,ar_001"
demo_ready() {  # notify_rules installed with the current demo (its Mauritanian company came with the languages)
  psql -d "$DB" -Atc "select 1 from ir_module_module m join ir_model_data d on d.module = m.name
                      where m.name = 'notify_rules' and m.state = 'installed' and d.name = 'demo_company_mr'" \
    2>/dev/null | grep -q 1
}
if ! demo_ready; then
  echo "[run] creating demo database $DB with notify_rules, l10n_cm, French, Arabic and demo data (a few minutes)"
  dropdb --if-exists "$DB"
  # 1. Odoo with the languages (Odoo's own translations; the first one is the default language of new contacts)
  #    and the Cameroonian accounting, which the addon does not depend on. In one run with notify_rules, Odoo
  #    would install l10n_cm after notify_rules' demo data, which loads its chart onto the Cameroonian company.
  #    (l10n_cm's own demo adds Odoo's "CM Company".) No l10n_mr exists: Mauritania uses the generic chart.
  "${ODOO_BIN[@]}" -d "$DB" -i l10n_cm --load-language="$DEMO_LANGS" --stop-after-init --log-level=warn
  # 2. The addon and its demo data; its i18n/fr.po and i18n/ar.po load for the installed languages.
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
