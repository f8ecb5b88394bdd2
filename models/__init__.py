from . import notify_provider_account
from . import notify_provider_account_wap
from . import notify_message
from . import notify_rule
from . import notify_rule_variable
from . import ir_actions_server
from . import base_automation
from . import res_config_settings
