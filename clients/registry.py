"""Provider code -> client class. A new provider adds one line here."""

from .base import PermanentError
from .chinqit import ChinqitClient
from .intech import IntechClient
from .wabek import WabekClient
from .wap import WapClient
from .wazzup import WazzupClient

CLIENTS = {
    'chinqit': ChinqitClient,
    'intech': IntechClient,
    'wabek': WabekClient,
    'wap': WapClient,
    'wazzup': WazzupClient,
}


def get_client_class(code):
    try:
        return CLIENTS[code]
    except KeyError:
        raise PermanentError(
            f'No client is available for the provider "{code}".', code='unknown_provider', params={'provider': code}
        ) from None
