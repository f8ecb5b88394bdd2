{
    "name": "Notify Rules",
    "summary": "Declarative notification rules: WhatsApp templates, SMS, OTP and mobile money "
    "through African and CIS providers, with a durable outbox",
    "version": "18.0.1.0.0",
    "category": "Productivity/Discuss",
    "author": "notify_rules team",
    "license": "LGPL-3",
    "depends": ["mail", "sms", "base_automation", "phone_validation", "account"],
    "external_dependencies": {"python": ["phonenumbers", "requests"]},
    "data": [
        "security/notify_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron.xml",
        "views/notify_provider_account_views.xml",
        "views/notify_message_views.xml",
        "views/notify_rule_views.xml",
        "wizard/notify_rule_preview_views.xml",
        "views/res_config_settings_views.xml",
        "views/notify_menus.xml",
    ],
    "demo": ["demo/notify_demo.xml"],
    "assets": {
        "web.assets_tests": ["notify_rules/static/tests/tours/*.js"],
    },
    "application": True,
}
