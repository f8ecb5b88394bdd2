"""Fallback across a rule's routes: a message refused for good by one route is tried once by the next route
that serves the recipient's country. The refused message stays failed, with its reason; the attempt through
the next route is a message of its own (``fallback_of_id``), so the outbox and the chatter show both."""

from odoo import fields, models


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    def _notify_fallback(self, reason):
        """Called when the provider refused this message for good (not for a paused account or a lost answer)."""
        self.ensure_one()
        rule = self.rule_id
        if not (rule.route_fallback and self.res_model in self.env and self.res_id) or self.fallback_of_id:
            return self.browse()  # tried once: a fallback does not fall back again
        record = self.env[self.res_model].sudo().browse(self.res_id).exists()
        if not record:
            return self.browse()
        env = self._user_env()
        vals = rule.with_env(env).sudo()._prepare_message_vals(record, after_route=self.route_id)
        if not vals.get("provider_account_id"):
            return self.browse()  # no other route serves this recipient: the failure stands
        note = env._("Tried after %(account)s refused it: %(reason)s", account=self.provider_account_id.name,
                     reason=reason)
        vals["route_note"] = "\n".join(filter(None, [note, vals.get("route_note")]))
        fallback = self.sudo().create(dict(
            vals, rule_id=rule.id, res_model=self.res_model, res_id=self.res_id, fallback_of_id=self.id,
            next_attempt_at=fields.Datetime.now(), to_render=False,
        ))
        if fallback.state == "failed":
            fallback._post_on_record("unsendable", detail=fallback.last_error)
        else:
            self._trigger_dispatch()
        return fallback
