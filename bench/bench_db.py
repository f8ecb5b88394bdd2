"""What the benches share about their database (no HTTP: see bench_http.py)."""

import os
import subprocess
import sys

import odoo
import odoo.service.db
import odoo.sql_db


def odoo_bin_command(args, *options):
    """`odoo-bin -c <args.config> -d <args.db> <options>` with this Python."""
    return [sys.executable, os.path.join(os.path.dirname(os.path.dirname(odoo.__file__)), "odoo-bin"),
            "-c", args.config, "-d", args.db, *options]


def ensure_database(args, fingerprint, stamp_param, log, what):
    """Create the bench's database `args.db` once; upgrade the addon there when its code's `fingerprint` differs
    from the one kept under `stamp_param` (no fingerprint: never upgraded). An existing database without
    notify_rules is never touched: it is someone else's."""
    def run(*options):
        subprocess.run(odoo_bin_command(args, *options, "--stop-after-init", "--log-level=warn"),  # noqa: S603
                       check=True)

    if not odoo.service.db.exp_db_exist(args.db):
        log(f"creating database {args.db} with notify_rules (a few minutes, once)")
        run("-i", "notify_rules", "--without-demo=all")
    else:
        with odoo.sql_db.db_connect(args.db).cursor() as cr:
            cr.execute("SELECT state FROM ir_module_module WHERE name = 'notify_rules'")
            row = cr.fetchone()
            if not row or row[0] != "installed":
                sys.exit(f"{what}: {args.db} exists without notify_rules installed: choose another --db")
            cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", [stamp_param])
            row = cr.fetchone()
        if not fingerprint or (row and row[0] == fingerprint):
            return
        log(f"the addon changed since the last run: upgrading notify_rules in {args.db}")
        run("-u", "notify_rules")
    if fingerprint:
        with odoo.sql_db.db_connect(args.db).cursor() as cr:
            cr.execute("""INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s)
                          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""", [stamp_param, fingerprint])


def bench_lock(db, key, log, what="bench"):
    """Wait until no other bench holding ``key`` runs on this database; returns the cursor that holds the lock
    (a PostgreSQL session lock: it lasts as long as that connection)."""
    cr = odoo.sql_db.db_connect(db).cursor()
    cr.execute("SELECT pg_try_advisory_lock(%s)", [key])
    if not cr.fetchone()[0]:
        log(f"another {what} is running on {db}: waiting for it to finish")
        cr.execute("SELECT pg_advisory_lock(%s)", [key])
    cr.commit()  # a session lock outlives the transaction: do not sit "idle in transaction"
    return cr
