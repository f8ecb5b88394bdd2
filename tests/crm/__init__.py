# Tests that need the crm app, which notify_rules does not depend on. `make test` (scripts/test.sh) runs them in a
# second database with crm installed; the main suite, without crm, does not collect this folder.
from . import test_wazzup_crm
