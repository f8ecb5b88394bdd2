from . import notify_rule_preview
from . import notify_wazzup_composer
