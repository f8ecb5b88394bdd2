from . import clients
from . import models
from . import wizard
from . import tools
from . import controllers


def uninstall_hook(env):
    """As Odoo's payment_* modules: the Intech payment provider is reset, and the uninstall is refused while payments
    made through it exist."""
    from odoo.addons.payment import reset_payment_provider  # noqa: PLC0415 - only needed at uninstall

    reset_payment_provider(env, "intech")
