"""The channels of a Wazzup account (GET /v3/channels, then `channelsUpdates` webhooks): a WhatsApp number, a
Telegram bot..., with the state Wazzup reports. Messages are sent only through an active one."""

from odoo import api, fields, models

from ..tools.storable import storable_text

STATES = [
    ("active", "Active"), ("init", "Starting"), ("disabled", "Disabled"), ("phoneunavailable", "Phone unavailable"),
    ("qr", "Waiting for the QR code"), ("openelsewhere", "Open elsewhere"), ("notenoughmoney", "Not paid"),
    ("foreignphone", "Foreign phone"), ("unauthorized", "Unauthorized"), ("waitforpassword", "Waiting for password"),
    ("other", "Other"),
]
KNOWN_STATES = {code for code, _label in STATES}


class NotifyWazzupChannel(models.Model):
    _name = "notify.wazzup.channel"
    _description = "Wazzup channel"
    _order = "provider_account_id, plain_id"
    _rec_name = "plain_id"

    provider_account_id = fields.Many2one("notify.provider.account", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="provider_account_id.company_id", store=True)
    channel_id = fields.Char(string="Channel id", required=True, readonly=True)
    transport = fields.Char(readonly=True, help="whatsapp, wapi (WhatsApp Business API), telegram, instagram...")
    plain_id = fields.Char(string="Number or name", readonly=True)
    state = fields.Selection(STATES, readonly=True)
    provider_state = fields.Char(string="Wazzup state", readonly=True)
    active = fields.Boolean(default=True, help="Archived when Wazzup no longer lists it.")

    _sql_constraints = [
        ("channel_unique", "UNIQUE(provider_account_id, channel_id)", "This channel is already known."),
    ]

    @api.depends("plain_id", "transport")
    def _compute_display_name(self):
        for channel in self:
            channel.display_name = f"{channel.plain_id or channel.channel_id} ({channel.transport or '?'})"

    @staticmethod
    def _state_of(provider_state):
        state = (provider_state or "").lower()
        return state if state in KNOWN_STATES else "other"

    @api.model
    def _wazzup_mirror(self, account, channels):
        existing = {c.channel_id: c for c in self.with_context(active_test=False).search(
            [("provider_account_id", "=", account.id)])}
        seen = set()
        for item in channels:
            seen.add(item.channel_id)
            vals = {"transport": item.transport, "plain_id": item.plain_id, "state": self._state_of(item.state),
                    "provider_state": item.state, "active": True}
            if item.channel_id in existing:
                existing[item.channel_id].write(vals)
            else:
                existing[item.channel_id] = self.create(dict(vals, provider_account_id=account.id,
                                                             channel_id=item.channel_id))
        self.browse([c.id for code, c in existing.items() if code not in seen]).write({"active": False})
        if not account.wazzup_channel_id or account.wazzup_channel_id.channel_id not in seen:
            sender = next((existing[c.channel_id] for c in channels
                           if c.state == "active" and c.transport in ("whatsapp", "wapi")), self.browse())
            account.wazzup_channel_id = sender
        return len(seen)

    @api.model
    def _wazzup_channel_update(self, account, item):
        """One `channelsUpdates[]` item of a webhook."""
        channel = self.with_context(active_test=False).search(
            [("provider_account_id", "=", account.id),
             ("channel_id", "=", storable_text(item.get("channelId") or "", 64))],
            limit=1)
        if channel:
            provider_state = storable_text(item.get("state") or "", 64)
            channel.write({"state": self._state_of(provider_state), "provider_state": provider_state})
        return bool(channel)
