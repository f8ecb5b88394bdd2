import logging
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError
from odoo.tools import safe_eval

from ..tools.cron_wakeup import trigger_cron_soon
from ..tools.field_path import check_field_path
from ..tools.rule_filter import filter_by_terms

_logger = logging.getLogger(__name__)

RECORD_TRIGGERS = ("on_create", "on_write", "on_state_set")
PENDING_KEY = "notify_rules.pending"


class NotifyRule(models.Model):
    """When <trigger> happens on <model> records matching <domain>, send <template> to <recipient>.

    Triggers ride on base_automation: all record-event rules of a model share ONE automation (trigger
    "on save") whose server action has our own state ``notify_rule``. That action evaluates every rule's
    trigger and domain in memory on the whole batch and defers the rendering and the single ``create`` of
    the outbox rows to the transaction's pre-commit, so the business transaction pays once per save, not
    once per rule and record, and never waits on a provider.
    """

    _name = "notify.rule"
    _inherit = ["mail.thread"]
    _description = "Notification rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, tracking=True,
        help="The rule acts on this company's records (and on records shared by all companies).",
    )
    model_id = fields.Many2one(
        "ir.model", required=True, ondelete="cascade", domain=[("transient", "=", False)]
    )
    model_name = fields.Char(related="model_id.model", string="Model name", store=True, index=True)
    trigger = fields.Selection(
        [
            ("on_create", "On creation"),
            ("on_write", "On update"),
            ("on_state_set", "When a status is set"),
            ("on_time", "Relative to a date"),
        ],
        required=True,
        default="on_state_set",
        tracking=True,
    )
    trigger_field_ids = fields.Many2many(
        "ir.model.fields",
        string="Watched fields",
        domain="[('model_id', '=', model_id), ('store', '=', True)]",
        help="On update: the rule fires only when one of these fields changes (any change if empty).",
    )
    state_field_id = fields.Many2one(
        "ir.model.fields",
        string="Status field",
        domain="[('model_id', '=', model_id), ('ttype', '=', 'selection'), ('store', '=', True)]",
        ondelete="cascade",
    )
    state_value_id = fields.Many2one(
        "ir.model.fields.selection",
        string="Status value",
        domain="[('field_id', '=', state_field_id)]",
        ondelete="cascade",
    )
    date_field_id = fields.Many2one(
        "ir.model.fields",
        string="Date field",
        domain="[('model_id', '=', model_id), ('ttype', 'in', ('date', 'datetime')), ('store', '=', True)]",
        ondelete="cascade",
    )
    time_offset = fields.Integer(string="Offset", default=0, help="Negative: before the date; positive: after.")
    time_unit = fields.Selection(
        [("minutes", "Minutes"), ("hour", "Hours"), ("day", "Days")], string="Offset unit", default="day"
    )
    filter_domain = fields.Char(string="Apply on", default="[]", tracking=True,
                                help="Only records matching this filter.")
    action = fields.Selection(
        [("send_template", "Send a template message"), ("send_sms", "Send an SMS")], required=True,
        default="send_template", tracking=True,
        help="What the rule does when it fires. Providers that do more than messages (OTP, payment requests) "
        "add their own actions.",
    )
    provider_account_id = fields.Many2one(
        "notify.provider.account", string="Provider account", required=True, ondelete="restrict", tracking=True,
        domain="[('company_id', '=', company_id)]",
    )
    channel = fields.Selection([("whatsapp", "WhatsApp"), ("sms", "SMS")], required=True, default="whatsapp")
    template_ref = fields.Char(string="Template reference", tracking=True,
                               help="The provider's template or automation reference.")
    sms_body = fields.Text(
        string="SMS text", translate=True,
        help="Inline template rendered on the record in the recipient's language, e.g. "
        "Bonjour {{ object.partner_id.name }}, votre facture {{ object.name }} est disponible.",
    )
    country_ids = fields.Many2many(
        "res.country", string="Countries served",
        help="This delivery serves recipients of these countries (empty: every country). Other countries go "
        "through the first route below that serves them.",
    )
    route_ids = fields.One2many("notify.rule.route", "rule_id", string="Other routes", copy=True)
    route_fallback = fields.Boolean(
        string="Fall back to the next route",
        help="When a route refuses a message for good (refused by the provider, a number it cannot serve), the "
        "next route that serves the recipient's country is tried, once.",
    )
    recipient_path = fields.Char(
        string="Recipient field", required=True, compute="_compute_recipient_paths", store=True, readonly=False,
        precompute=True,
        help="Field path to the phone number, e.g. partner_id.mobile.",
    )
    recipient_fallback_path = fields.Char(
        string="Fallback field", compute="_compute_recipient_paths", store=True, readonly=False, precompute=True,
        help="Used when the recipient field is empty, e.g. partner_id.phone.",
    )
    variable_ids = fields.One2many("notify.rule.variable", "rule_id", string="Variables", copy=True)
    delay_minutes = fields.Integer(string="Delay (minutes)", default=0, help="Wait this long before sending.")
    automation_id = fields.Many2one("base.automation", compute="_compute_automation_id")
    notify_message_count = fields.Integer(string="Outgoing messages", compute="_compute_counters")
    sent_count = fields.Integer(string="Sent", compute="_compute_counters")
    failed_count = fields.Integer(string="Failed or unknown", compute="_compute_counters")
    last_run = fields.Datetime(compute="_compute_counters", string="Last run")

    _sql_constraints = [("delay_positive", "CHECK(delay_minutes >= 0)", "The delay cannot be negative.")]

    # ---- computes -----------------------------------------------------------------------------------
    @api.depends("model_id")
    def _compute_recipient_paths(self):
        """Sensible defaults: the record's own mobile/phone, else its partner's."""
        for rule in self:
            if not rule.model_id or rule.model_id.model not in self.env:
                continue
            model_fields = self.env[rule.model_id.model]._fields
            holder = model_fields
            prefix = ""
            if "mobile" not in model_fields and "phone" not in model_fields:
                if "partner_id" not in model_fields:
                    continue
                holder, prefix = self.env[model_fields["partner_id"].comodel_name]._fields, "partner_id."
            names = [name for name in ("mobile", "phone") if name in holder]
            if not names:
                continue
            rule.recipient_path = prefix + names[0]
            rule.recipient_fallback_path = prefix + names[1] if len(names) > 1 else False

    def _compute_counters(self):
        groups = self.env["notify.message"].sudo()._read_group(
            [("rule_id", "in", self.ids)], ["rule_id", "state"], ["__count", "create_date:max"]
        )
        stats = {}
        for rule, state, count, last in groups:
            entry = stats.setdefault(rule.id, {"all": 0, "sent": 0, "failed": 0, "last": False})
            entry["all"] += count
            if state in ("sent", "delivered", "read"):
                entry["sent"] += count
            elif state in ("failed", "unknown"):
                entry["failed"] += count
            entry["last"] = max(entry["last"] or last, last)
        for rule in self:
            entry = stats.get(rule.id, {"all": 0, "sent": 0, "failed": 0, "last": False})
            rule.notify_message_count, rule.sent_count = entry["all"], entry["sent"]
            rule.failed_count, rule.last_run = entry["failed"], entry["last"]

    def _compute_automation_id(self):
        automations = self.env["base.automation"].sudo().with_context(active_test=False).search(
            [("notify_shared", "=", True)]
        )
        for rule in self:
            if rule.trigger == "on_time":
                rule.automation_id = automations.filtered(lambda a, r=rule: a.notify_rule_id == r)[:1]
            else:
                rule.automation_id = automations.filtered(
                    lambda a, r=rule: not a.notify_rule_id and a.model_id == r.model_id
                )[:1]

    # ---- validation ---------------------------------------------------------------------------------
    @api.constrains("model_id", "recipient_path", "recipient_fallback_path", "template_ref", "trigger",
                    "state_field_id", "state_value_id", "date_field_id", "trigger_field_ids", "filter_domain",
                    "company_id", "provider_account_id", "channel", "action", "sms_body")
    def _check_configuration(self):
        for rule in self:
            model = self.env[rule.model_id.model]
            if not self.env.su and not model.has_access("read"):
                # messages are rendered as superuser: only someone who may read these records writes rules on them
                raise ValidationError(self.env._(
                    "Rule %(rule)s: you are not allowed to read %(model)s records, so you cannot set a rule on them.",
                    rule=rule.name, model=rule.model_id.name))
            for owner in [rule, *rule.route_ids]:
                rule._check_delivery(owner, model)
            for label, path in ((self.env._("Recipient field"), rule.recipient_path),
                                (self.env._("Fallback field"), rule.recipient_fallback_path)):
                if path:
                    error = check_field_path(model, path)
                    if error:
                        raise ValidationError(self.env._("Rule %(rule)s, %(label)s: %(error)s", rule=rule.name,
                                                label=label, error=error))
            if rule.trigger == "on_state_set" and not (rule.state_field_id and rule.state_value_id):
                raise ValidationError(self.env._("Rule %s: choose the status field and the status value.", rule.name))
            if rule.trigger == "on_time" and not rule.date_field_id:
                raise ValidationError(self.env._("Rule %s: choose the date field the rule is relative to.", rule.name))
            rule._check_fields_belong_to_model()
            rule.variable_ids._check_source()  # the model may have changed under them
            try:
                domain = safe_eval.safe_eval(rule.filter_domain or "[]", {"uid": self.env.uid})
                model.search(domain, limit=1)
            except Exception as error:
                raise ValidationError(self.env._("Rule %(rule)s: the filter is not valid: %(error)s", rule=rule.name,
                                        error=error)) from error

    def _check_fields_belong_to_model(self):
        """Fields picked for another model (the model was changed afterwards) would break every save of it."""
        self.ensure_one()
        foreign = (self.trigger_field_ids | self.state_field_id | self.date_field_id).filtered(
            lambda f: f.model_id != self.model_id)
        if self.state_value_id and self.state_value_id.field_id != self.state_field_id:
            foreign |= self.state_value_id.field_id
        if foreign:
            raise ValidationError(self.env._(
                "Rule %(rule)s: the field %(field)s does not belong to %(model)s; choose it again.",
                rule=self.name, field=foreign[0].field_description, model=self.model_id.name))

    @api.onchange("model_id")
    def _onchange_model_id(self):
        self.trigger_field_ids = False
        self.state_field_id = self.state_value_id = self.date_field_id = False

    @api.onchange("state_field_id")
    def _onchange_state_field_id(self):
        if self.state_value_id.field_id != self.state_field_id:
            self.state_value_id = False

    @api.onchange("action")
    def _onchange_action(self):
        if self.action == "send_sms":
            self.channel = "sms"

    @api.onchange("company_id")
    def _onchange_company_id(self):
        if self.provider_account_id.company_id != self.company_id:
            self.provider_account_id = False

    # ---- CRUD keeps the shared automations in step ----------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        self._sync_automations()
        return rules

    def write(self, vals):
        res = super().write(vals)
        sync_fields = {"active", "model_id", "trigger", "trigger_field_ids", "state_field_id", "state_value_id",
                       "date_field_id", "time_offset", "time_unit", "filter_domain"}
        if sync_fields & set(vals):
            self._sync_automations()
        else:
            self.env.registry.clear_cache()  # _notify_matchers (filter, provider account...)
        return res

    def unlink(self):
        res = super().unlink()
        self._sync_automations()
        return res

    def _sync_automations(self):
        self.env.registry.clear_cache()  # _notify_matchers
        self._sync_shared_automations()

    @api.model
    def _sync_shared_automations(self):
        """Make base_automation hold exactly one shared "on save" automation per model with record rules,
        and one time automation per time rule; write only what changed (each write reloads the registry)."""
        Automation = self.env["base.automation"].sudo().with_context(active_test=False)
        rules = self.sudo().search([("active", "=", True)])
        existing = Automation.search([("notify_shared", "=", True)])
        keep = Automation.browse()
        for model, model_rules in rules.filtered(lambda r: r.trigger in RECORD_TRIGGERS).grouped("model_id").items():
            vals = self._shared_automation_vals(model, model_rules)
            automation = existing.filtered(lambda a, m=model: a.model_id == m and not a.notify_rule_id)[:1]
            keep |= self._upsert_automation(automation, vals)
        for rule in rules.filtered(lambda r: r.trigger == "on_time"):
            vals = {
                "name": self.env._("Notify rules: %s", rule.name),
                "model_id": rule.model_id.id,
                "trigger": "on_time",
                "trg_date_id": rule.date_field_id.id,
                "trg_date_range": rule.time_offset,
                "trg_date_range_type": rule.time_unit,
                "notify_rule_id": rule.id,
                "trigger_field_ids": [],
                "filter_domain": rule._time_filter_domain(),
            }
            automation = existing.filtered(lambda a, r=rule: a.notify_rule_id == r)[:1]
            keep |= self._upsert_automation(automation, vals)
        (existing - keep).unlink()

    def _time_filter_domain(self):
        """The time automation's filter: the rule's own, and only dates whose time may have come since the last
        run (``notify_since``, see base.automation._get_eval_context): the cron then loads those records only."""
        self.ensure_one()
        own = (self.filter_domain or "").strip() or "[]"
        if self.date_field_id.name == "date_automation_last":  # base_automation falls back to create_date
            return own
        return f"[({self.date_field_id.name!r}, '>=', notify_since)] + {own}"

    @api.model
    def _shared_automation_vals(self, model, rules):
        watched = self.env["ir.model.fields"]
        watch_everything = False
        for rule in rules:
            if rule.trigger == "on_state_set":
                watched |= rule.state_field_id
            elif rule.trigger == "on_write":
                watch_everything |= not rule.trigger_field_ids
                watched |= rule.trigger_field_ids
        only_create = all(rule.trigger == "on_create" for rule in rules)
        return {
            "name": self.env._("Notify rules: %s", model.name),
            "model_id": model.id,
            "trigger": "on_create" if only_create else "on_create_or_write",
            "trigger_field_ids": [(6, 0, [] if (watch_everything or only_create) else watched.ids)],
            "notify_rule_id": False,
        }

    @api.model
    def _upsert_automation(self, automation, vals):
        vals = dict({"filter_domain": False}, **vals)  # shared automations filter nothing: the rules do
        if not automation:
            automation = self.env["base.automation"].sudo().create(
                dict(vals, notify_shared=True, filter_pre_domain=False)
            )
            self.env["ir.actions.server"].sudo().create(
                {
                    "name": vals["name"],
                    "model_id": vals["model_id"],
                    "state": "notify_rule",
                    "usage": "base_automation",
                    "base_automation_id": automation.id,
                }
            )
            return automation
        current = {
            "name": automation.name,
            "model_id": automation.model_id.id,
            "trigger": automation.trigger,
            "trigger_field_ids": [(6, 0, sorted(automation.trigger_field_ids.ids))],
            "notify_rule_id": automation.notify_rule_id.id,
            "trg_date_id": automation.trg_date_id.id,
            "trg_date_range": automation.trg_date_range,
            "trg_date_range_type": automation.trg_date_range_type,
            "filter_domain": automation.filter_domain,
        }
        wanted = dict(vals)
        wanted["trigger_field_ids"] = [(6, 0, sorted(vals["trigger_field_ids"][0][2]) if vals["trigger_field_ids"]
                                        else [])]
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changed or not automation.active:
            automation.write(dict(changed, active=True, filter_pre_domain=False))
        return automation

    # ---- matching (runs inside the business transaction: keep it cheap) ------------------------------
    @api.model
    @tools.ormcache("model_id")
    def _notify_matchers(self, model_id):
        """The record-event rules of a model, pre-digested; cached (cleared whenever a rule changes) because
        it is asked on every save of the model."""
        rules = self.sudo().search([("model_id", "=", model_id), ("trigger", "in", RECORD_TRIGGERS)])
        return tuple(rule._notify_matcher() for rule in rules)

    def _notify_matcher(self):
        """(rule id, trigger, watched field names, status field, status value, domain source, parsed domain,
        company id, outbox values): everything the save path needs, so that it reads nothing from the database."""
        self.ensure_one()
        source = (self.filter_domain or "").strip()
        static = None
        if source not in ("", "[]") and "uid" not in source:
            static = safe_eval.safe_eval(source, {})
        account = self.provider_account_id
        outbox = (account.id, account.provider, account.company_id.id, self.channel, self.template_ref,
                  self.model_name, self.delay_minutes)
        return (self.id, self.trigger, tuple(self.trigger_field_ids.mapped("name")), self.state_field_id.name,
                self.state_value_id.value, source, static, self.company_id.id, outbox)

    @api.model
    def _notify_match(self, matcher, records, old_values, batch=None):
        """Return the records on which one rule fires, evaluated in memory on the whole batch.

        ``batch``: a dict shared by the rules evaluated on the same records, for what they all need once
        (the records' companies, the superuser environment, the verdicts of the filters' terms)."""
        batch = {} if batch is None else batch
        _rule_id, trigger, watched, state_name, state_value, source, domain, company_id, _outbox = matcher
        if trigger == "on_create":
            matched = records if old_values is None else records.browse()
        elif trigger == "on_write":
            if old_values is None:
                matched = records.browse()
            elif not watched:
                matched = records
            else:
                matched = records.filtered(
                    lambda r: any(n in old_values.get(r.id, {}) and r[n] != old_values[r.id][n] for n in watched)
                )
        elif trigger == "on_state_set":
            matched = records.filtered(
                lambda r: r[state_name] == state_value
                and (old_values is None
                     or (state_name in old_values.get(r.id, {}) and old_values[r.id][state_name] != state_value))
            )
        else:  # on_time: base_automation already selected the records
            matched = records
        if matched:
            # a rule acts on its company's records; records shared by all companies (no company) are everyone's
            if "companies" not in batch:
                field = records._fields.get("company_id")
                batch["companies"] = ({record.id: record.company_id.id for record in records}
                                      if field and field.comodel_name == "res.company" else None)
            companies = batch["companies"]
            if companies is not None:
                matched = matched.browse([i for i in matched._ids if companies[i] in (company_id, False)])
        if matched and source not in ("", "[]"):
            if domain is None:  # the filter uses uid: evaluate it for this user
                domain = safe_eval.safe_eval(source, {"uid": self.env.uid})
            # as base_automation: the filter is the rule author's, not limited by the saving user's rights
            if "su_env" not in batch:
                batch["su_env"] = records.sudo().env
            matched = filter_by_terms(matched.with_env(batch["su_env"]), domain,
                                      batch.setdefault("verdicts", {})).with_env(matched.env)
        return matched

    @api.model
    def _notify_on_event(self, matchers, records, old_values):
        """Record the (rule, record) pairs to enqueue; the outbox rows are created once, at pre-commit."""
        pending = None
        batch = {}
        for matcher in matchers:
            matched = self._notify_match(matcher, records, old_values, batch)
            if not matched:
                continue
            if pending is None:
                pending = self._notify_pending()
            pending.setdefault((matcher[0], matcher[-1]), set()).update(matched.ids)

    def _notify_pending(self):
        data = self.env.cr.precommit.data
        if PENDING_KEY not in data:
            data[PENDING_KEY] = {}
            env = self.env(su=True)
            self.env.cr.precommit.add(lambda: env["notify.rule"]._notify_flush_pending())
        return data[PENDING_KEY]

    @api.model
    def _notify_flush_pending(self):
        """Only the intent is written here, as ONE row for the whole transaction (notify.intent): the dispatcher
        makes the messages of it, then renders recipient and variables, off the business transaction.

        Measured with bench/bench_intents.py (2026-12-02, this 2-core machine): a commit queuing 20 messages (20
        rules matching an invoice) cost 7.6 ms more than a commit queuing nothing when it inserted the messages in
        one SQL INSERT, 19.5 ms through the ORM's create, 3.3 ms with this intent row."""
        pending = self.env.cr.precommit.data.pop(PENDING_KEY, {})
        if not pending:
            return
        now = fields.Datetime.now()
        entries = []
        for (rule_id, outbox), ids in pending.items():
            account_id, provider, company_id, channel, template_ref, model_name, delay = outbox
            entries.append({
                "rule_id": rule_id, "account_id": account_id, "provider": provider, "company_id": company_id,
                "channel": channel, "template_ref": template_ref, "res_model": model_name,
                "next_attempt_at": fields.Datetime.to_string(now + timedelta(minutes=delay)),
                "res_ids": sorted(ids),
            })
        self.env["notify.intent"]._record(entries, self.env.uid, now)
        self._notify_trigger_dispatch_now()

    @api.model
    def _notify_trigger_dispatch_now(self):
        """``ir.cron._trigger()`` for the dispatcher, without its cost on this hot path: the same trigger row, and
        the same NOTIFY of the cron workers after commit, on one connection kept per process.

        Measured (bench/bench_intents.py, a commit queuing 5 messages, this 2-core machine, 2026-12-02): the
        ORM create of the 5 rows + ``ir.cron._trigger`` adds 8.1 ms to the commit, the ORM create + this
        wake-up 5.2 ms: Odoo's trigger costs 2.9 ms more, 5-7% of posting an invoice (40 to 60 ms here), a
        third of the 10% this addon may add in all. Elsewhere (buttons, the dispatcher) ``ir.cron._trigger``
        is used as it is."""
        trigger_cron_soon(self.env, "notify_rules.ir_cron_notify_dispatch")

    def _filter_domain_eval(self):
        self.ensure_one()
        return safe_eval.safe_eval(self.filter_domain or "[]", {"uid": self.env.uid})

    # ---- buttons --------------------------------------------------------------------------------------
    def action_preview(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "notify.rule.preview",
            "view_mode": "form",
            "target": "new",
            "context": {"default_rule_id": self.id},
            "name": self.env._("Preview"),
        }

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("notify_rules.notify_message_action")
        action["domain"] = [("rule_id", "=", self.id)]
        return action


