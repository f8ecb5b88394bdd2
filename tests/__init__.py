# Odoo's own test runner (odoo-bin --test-enable, runbot-style CI, hosted platforms) loads the tests that this
# package imports; pytest-odoo (make test) collects the same files. A new test file is added here too.
from . import (
    test_account_safety,
    test_automation_integration,
    test_chinqit_account,
    test_clients_chinqit,
    test_clients_wap,
    test_dispatch,
    test_dispatch_isolation,
    test_durability,
    test_invoice_flow,
    test_odoo_native,
    test_odoo_sms,
    test_outbox_access,
    test_provider_errors,
    test_rule_config,
    test_security,
    test_simulator,
    test_sms_parts,
    test_sms_routes,
    test_tour,
)
