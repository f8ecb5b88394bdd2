from . import otp_api
from . import otp_login
from . import intech_ipn
from . import intech_payment
from . import wazzup_webhook
from . import wazzup_connect
from . import optout
