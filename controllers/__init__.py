from . import otp_api
from . import otp_login
