from . import notify_rule_preview
