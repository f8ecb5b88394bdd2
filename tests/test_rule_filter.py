"""Rule filters evaluated term by term, once per saved batch whichever rules share a term (tools/rule_filter.py):
the same records as ``filtered_domain`` for any domain, and fewer evaluations when rules share terms."""

import os
import tempfile
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from odoo.models import BaseModel

from ..tools.rule_filter import conjunction_terms, filter_by_terms
from .common import NotifyCase

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "notify_rules_hypothesis"))
SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

TERMS = [
    ("mobile", "!=", False),
    ("ref", "=", "notify-test"),
    ("is_company", "=", True),
    ("country_id.code", "=", "CM"),
    ("parent_id.name", "ilike", "sarl"),
    ("name", "in", ["Awa", "Binta"]),
    ("function", "=", False),
    ("category_id", "!=", False),
    ("id", "!=", 0),
    (1, "=", 1),
    (0, "=", 1),
]
term = st.sampled_from(TERMS)
conjunction = st.lists(term, max_size=4)
# any domain in prefix notation: an operator then its operands, or a term
domain_tree = st.recursive(
    term.map(lambda t: [t]),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["&", "|"]), inner, inner).map(lambda t: [t[0], *t[1], *t[2]]),
        inner.map(lambda d: ["!", *d]),
    ),
    max_leaves=5,
)


class TestRuleFilter(NotifyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cm, sn = cls.env.ref("base.cm"), cls.env.ref("base.sn")
        Partner = cls.env["res.partner"].with_context(tracking_disable=True)
        company = Partner.create({"name": "Ngono SARL", "is_company": True, "country_id": cm.id})
        category = cls.env["res.partner.category"].create({"name": "VIP"})
        cls.partners = Partner.create([
            {"name": "Awa", "mobile": "690000001", "ref": "notify-test", "country_id": cm.id},
            {"name": "Binta", "ref": "other", "country_id": sn.id, "parent_id": company.id, "function": "CEO"},
            {"name": "Chantal", "mobile": "690000003", "parent_id": company.id, "category_id": [(4, category.id)]},
            {"name": "Diallo SA", "is_company": True, "mobile": "770000004", "country_id": sn.id},
        ]) | company

    def test_conjunction_terms(self):
        a, b = ("a", "=", 1), ["b", "!=", False]
        self.assertEqual(conjunction_terms([a, b]), [a, b])
        self.assertEqual(conjunction_terms(["&", a, b]), [a, b])
        self.assertEqual(conjunction_terms([]), [])
        self.assertIsNone(conjunction_terms(["|", a, b]))
        self.assertIsNone(conjunction_terms(["!", a]))
        self.assertIsNone(conjunction_terms([a, "junk"]))

    @SETTINGS
    @given(domains=st.lists(st.one_of(conjunction, domain_tree), min_size=1, max_size=6))
    def test_same_records_as_filtered_domain(self, domains):
        """Rules evaluated one after the other on the same records, sharing their verdicts: each gets exactly what
        ``filtered_domain`` returns, in the same order, starting from all records or from any part of them."""
        verdicts = {}
        for index, domain in enumerate(domains):
            records = self.partners if index % 2 == 0 else self.partners[index % len(self.partners):]
            self.assertEqual(filter_by_terms(records, domain, verdicts).ids, records.filtered_domain(domain).ids,
                             domain)

    def test_a_shared_term_is_evaluated_once(self):
        """Ten rules on two terms: two evaluations on the saved partner, not ten."""
        for n in range(10):
            self.env["notify.rule"].create({
                "name": f"Shared {n}", "model_id": self.env.ref("base.model_res_partner").id, "trigger": "on_create",
                "filter_domain": "[('ref', '=', 'notify-test'), ('mobile', '!=', False)]" if n % 2 else
                                 "[('ref', '=', 'notify-test')]",
                "provider_account_id": self.account.id, "template_ref": "tpl", "recipient_path": "mobile",
            })
        original = BaseModel.filtered_domain
        evaluated = []

        def filtered_domain(records, domain):
            if records._name == "res.partner":
                evaluated.append(list(domain))
            return original(records, domain)

        with patch.object(BaseModel, "filtered_domain", filtered_domain):
            partner = self.make_partner(name="Shared")
        self.assertEqual(len(self.messages_of(partner)), 11, "the 10 rules and the class's own rule")
        self.assertCountEqual(evaluated, [[("ref", "=", "notify-test")], [("mobile", "!=", False)]])

    def test_a_rule_with_or_is_evaluated_whole(self):
        self.env["notify.rule"].create({
            "name": "Either", "model_id": self.env.ref("base.model_res_partner").id, "trigger": "on_create",
            "filter_domain": "['|', ('ref', '=', 'notify-test'), ('is_company', '=', True)]",
            "provider_account_id": self.account.id, "template_ref": "tpl", "recipient_path": "mobile",
        })
        company = self.make_partner(name="Company", ref="other", is_company=True)
        self.assertEqual(self.messages_of(company).rule_id.mapped("name"), ["Either"])
        person = self.make_partner(name="Person")
        self.assertCountEqual(self.messages_of(person).rule_id.mapped("name"), ["Either", "Welcome"])
        nobody = self.make_partner(name="Nobody", ref="other")
        self.assertFalse(self.messages_of(nobody))
