# Provider simulator used by the tests and by `make run`: stdlib + phonenumbers only, never `odoo` nor `clients`.
from .server import FAULT_KINDS, ProviderSimulator, Simulator
from .wap import (
    DEMO_API_KEY,
    DEMO_INVOICE_AUTOMATION,
    DEMO_OTP_AUTOMATION,
    DEMO_SECRET_B64,
    WapSimulator,
    seed_demo,
)

__all__ = [
    'DEMO_API_KEY',
    'DEMO_INVOICE_AUTOMATION',
    'DEMO_OTP_AUTOMATION',
    'DEMO_SECRET_B64',
    'FAULT_KINDS',
    'ProviderSimulator',
    'Simulator',
    'WapSimulator',
    'seed_demo',
]
