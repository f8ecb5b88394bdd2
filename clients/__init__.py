# Plain-Python provider clients: no `odoo` import here, so they can be unit-tested without a database.
from . import base, chinqit, intech, js_json, phone, registry, signing, wap, wazzup
from .base import (
    BaseClient,
    OutboundMessage,
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    RetryableError,
    SendResult,
    StatusResult,
)
from .chinqit import ChinqitClient, OtpSendResult, OtpVerifyResult
from .phone import InvalidPhoneError, split_e164, to_e164, to_mauritanian_e164
from .registry import CLIENTS, get_client_class

__all__ = [
    'CLIENTS',
    'BaseClient',
    'ChinqitClient',
    'InvalidPhoneError',
    'OtpSendResult',
    'OtpVerifyResult',
    'OutboundMessage',
    'OutcomeUnknownError',
    'PermanentError',
    'ProviderError',
    'RetryableError',
    'SendResult',
    'StatusResult',
    'base',
    'chinqit',
    'get_client_class',
    'intech',
    'js_json',
    'phone',
    'registry',
    'signing',
    'split_e164',
    'to_e164',
    'to_mauritanian_e164',
    'wap',
    'wazzup',
]
