from . import otp_api
from . import otp_login
from . import intech_ipn
from . import intech_payment
