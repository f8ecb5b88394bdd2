"""What the benches share about their database (no HTTP: see bench_http.py)."""

import odoo.sql_db


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
