# Provider simulator used by the tests and by `make run`: stdlib + phonenumbers only, never `odoo` nor `clients`.
from .chinqit import DEMO_API_KEY as CHINQIT_DEMO_API_KEY, ChinqitSimulator
from .intech import DEMO_API_KEY as INTECH_DEMO_API_KEY, IntechSimulator
from .server import FAULT_KINDS, ProviderSimulator, Simulator
from .wabek import DEMO_API_KEY as WABEK_DEMO_API_KEY, WabekSimulator
from .wap import (
    DEMO_API_KEY,
    DEMO_INVOICE_AUTOMATION,
    DEMO_OTP_AUTOMATION,
    DEMO_SECRET_B64,
    WapSimulator,
    seed_demo,
)
from .wazzup import WazzupSimulator

__all__ = [
    'CHINQIT_DEMO_API_KEY',
    'ChinqitSimulator',
    'DEMO_API_KEY',
    'DEMO_INVOICE_AUTOMATION',
    'DEMO_OTP_AUTOMATION',
    'DEMO_SECRET_B64',
    'FAULT_KINDS',
    'INTECH_DEMO_API_KEY',
    'IntechSimulator',
    'ProviderSimulator',
    'Simulator',
    'WABEK_DEMO_API_KEY',
    'WabekSimulator',
    'WapSimulator',
    'WazzupSimulator',
    'seed_demo',
]
