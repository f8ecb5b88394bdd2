"""clients/js_json.py against Node's own JSON.stringify, the function Intech signs with and validates with.

Node is the oracle: one node process per test class reads requests line by line on stdin and answers one line each.
A value goes to node as a JavaScript *expression* (js_expression below), not as JSON, so that NaN and Infinity
reach it as numbers and a key "__proto__" as an own property (a computed key), exactly as Python holds them. For
each value node answers:
- expected: JSON.stringify(value), which js_stringify must equal character for character;
- reparsed: JSON.stringify(JSON.parse(our text)), what Intech's validator rebuilds from the bytes we send: it must
  be our text again, or the signature it recomputes differs from ours;
- signature (when asked): the provider document's own computation, crypto.createHmac('sha256', secret)
  .update(`${method}:${timestamp}:${JSON.stringify(body)}`).digest('hex').
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from ..clients import signing
from ..clients.js_json import js_number, js_stringify, js_stringify_bytes
from .common import LoopbackCase

# Hypothesis keeps caches in a directory of the current one (the checkout): keep them out of the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "notify_rules_hypothesis"))

NODE_ORACLE = r"""
const crypto = require('crypto');
const lines = require('readline').createInterface({input: process.stdin});
lines.on('line', (line) => {
    let answer;
    try {
        const request = JSON.parse(line);
        const value = (0, eval)('(' + request.expr + ')');
        const text = JSON.stringify(value);
        answer = {expected: text};
        if (request.ours !== undefined) {
            answer.reparsed = JSON.stringify(JSON.parse(request.ours));
        }
        if (request.secret !== undefined) {
            answer.signature = crypto.createHmac('sha256', request.secret)
                .update(`${request.method}:${request.timestamp}:${text}`).digest('hex');
        }
    } catch (error) {
        answer = {error: String(error)};
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
});
"""

MAX_DOUBLE = sys.float_info.max
# The smallest integer that a double cannot hold without rounding up to Infinity (halfway to 2**1024)
FIRST_OVERFLOWING_INT = 2**1024 - 2**970


def js_expression(value):
    """JavaScript source that evaluates to the value Python holds (a str as its UTF-16 code units)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return f"({value})"  # a numeric literal: JavaScript rounds it to the nearest double, as JSON.parse does
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "(-Infinity)"
        return f"({value!r})"  # the shortest repr reads back as the same double in JavaScript too
    if isinstance(value, str):
        return json.dumps(value)  # ASCII only: every non-ASCII code point (surrogates too) as \\uXXXX escapes
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(js_expression(item) for item in value) + "]"
    if isinstance(value, dict):
        # computed keys: a literal "__proto__" key would set the prototype instead of adding a property
        return "({" + ",".join(f"[{json.dumps(key)}]:{js_expression(item)}" for key, item in value.items()) + "})"
    raise TypeError(type(value).__name__)


class NodeOracleMixin:
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        node = shutil.which("node")
        if not node:
            raise RuntimeError("Node.js (node) is required: it is the reference for JSON.stringify")
        cls.node = subprocess.Popen([node, "-e", NODE_ORACLE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        cls.addClassCleanup(cls._stop_node)

    @classmethod
    def _stop_node(cls):
        cls.node.stdin.close()
        cls.node.wait(timeout=10)
        cls.node.stdout.close()

    def ask_node(self, value, **request):
        request["expr"] = js_expression(value)
        self.node.stdin.write(json.dumps(request).encode("ascii") + b"\n")
        self.node.stdin.flush()
        line = self.node.stdout.readline()
        self.assertTrue(line, "node stopped answering")
        answer = json.loads(line)
        self.assertNotIn("error", answer, f"node could not evaluate {request['expr']!r}")
        return answer

    def assert_like_node(self, value):
        ours = js_stringify(value)
        answer = self.ask_node(value, ours=ours)
        self.assertEqual(ours, answer["expected"], f"JSON.stringify differs for {value!r}")
        self.assertEqual(answer["reparsed"], ours, f"JSON.parse then JSON.stringify changes our text for {value!r}")
        self.assertEqual(js_stringify_bytes(value), ours.encode("utf-8"))
        return ours


class TestJsJsonFixedCases(NodeOracleMixin, LoopbackCase):
    def test_numbers(self):
        for value in [
            0, 1, -1, 7, 1000, -123456789, 2**31, 2**32, 2**53 - 1, 2**53, 2**53 + 1, 2**64 + 1, 10**21 - 1,
            10**21, 10**22, 123456789012345678901234567890, -(10**30), 2**1023, FIRST_OVERFLOWING_INT - 1,
            FIRST_OVERFLOWING_INT, -FIRST_OVERFLOWING_INT, 10**400, -(10**400),
            0.0, -0.0, 1e-7, 1e-6, 1.5e-7, 0.000001234, 0.1, 0.1 + 0.2, 1 / 3, 5e-324, -5e-324, 2.225e-308,
            2.2250738585072014e-308, MAX_DOUBLE, -MAX_DOUBLE, 100.0, 1000.0, 1e20, 1e21, 1.5e21, 1e22, 123e-20,
            2.5, -2.5, 1e16, 12345678901234567.0, 9007199254740993.0, 1.7976931348623157e308,
            math.nan, math.inf, -math.inf,
        ]:
            with self.subTest(value=value):
                self.assert_like_node(value)

    def test_numbers_known_texts(self):
        """What node writes, spelled out: the places where Python's json.dumps writes something else."""
        expected = {
            100.0: "100", 1e-7: "1e-7", 1e-6: "0.000001", 1e21: "1e+21", 1e20: "100000000000000000000",
            -0.0: "0", 2**53 + 1: "9007199254740992", 5e-324: "5e-324", math.nan: "null", math.inf: "null",
            10**400: "null", MAX_DOUBLE: "1.7976931348623157e+308",
        }
        for value, text in expected.items():
            with self.subTest(value=value):
                self.assertEqual(js_number(value), text)
                self.assertEqual(self.ask_node(value)["expected"], text)

    def test_strings(self):
        for value in [
            "", "plain", "é", "Aïcha Ngono", "€ 1 000", "محمد ولد أحمد", "😀", "👩🏽‍💻 team", "\u2028\u2029",
            "".join(chr(code) for code in range(0x20)), "\x7f\x80\x9f\xa0", '"quoted" \\ back/slash',
            "\b\f\n\r\t", "\ufeff\ufffe\uffff", "\U0010ffff",
            "\ud800", "\udfff", "a\ud800b", "\udc00\ud800", "\ud83d", "x\ude00",
            # two surrogate code points in a row are one character in JavaScript's UTF-16 strings
            "\ud83d\ude00", "\ud83d\ude00\ude00", "\ud83d\ud83d\ude00",
        ]:
            with self.subTest(value=value):
                self.assert_like_node(value)

    def test_objects_with_array_index_keys(self):
        for value in [
            {"b": 1, "2": 2, "a": 3, "10": 4, "1": 5, "01": 6, "4294967294": 7, "4294967295": 8, "-1": 9, "0": 10},
            {"4294967296": 1, "1.5": 2, "1e3": 3, " 1": 4, "1 ": 5, "+1": 6, "00": 7, "": 8, "9007199254740993": 9},
            {"z": {"3": "c", "y": None, "1": "a"}, "5": [{"2": 2, "x": 1}], "__proto__": 1, "constructor": 2},
            {"\ud800": 1, "é": 2, "😀": 3, "\u2028": 4, '"': 5, "\n": 6},
        ]:
            with self.subTest(value=value):
                self.assert_like_node(value)

    def test_containers(self):
        for value in [
            [], {}, [[]], [{}], {"a": []}, {"a": {}}, [[[[[]]]]], (1, "two", 3.0),
            [None, True, False, 0, -0.0, "", [], {}],
            {"apiKey": "votre_cle_api", "phone": "221777777777", "amount": 1000, "codeService": "FREE_SN_WALLET",
             "data": {"message": "Bonjour Aïcha", "items": [1.5, 2.0, {"1": True, "a": None}]}},
        ]:
            with self.subTest(value=value):
                self.assert_like_node(value)

    def test_refuses_what_json_stringify_cannot_mean(self):
        with self.assertRaises(TypeError):
            js_stringify({1: "a"})
        with self.assertRaises(TypeError):
            js_stringify({"a": b"bytes"})
        with self.assertRaises(TypeError):
            js_stringify({"a", "b"})


SPECIAL_CHARACTERS = (
    '"\\/\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f\x80\u2028\u2029'  # escaped or not by JSON.stringify
    "\ud800\udbff\udc00\udfff\ud83d\ude00"  # surrogates: lone, or next to one they pair with
    "éa€ا😀"
)
TEXTS = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=20),  # any code point, lone surrogates included
    st.text(st.sampled_from(SPECIAL_CHARACTERS), max_size=12),  # escapes and surrogate neighbours, often
)
KEYS = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
    st.from_regex(r"\A(0|[1-9][0-9]{0,11}|0[0-9]{1,3}|-[0-9]{1,3})\Z"),  # digit-only: indices and look-alikes
    st.sampled_from(["4294967294", "4294967295", "4294967296", "__proto__", "constructor", "length"]),
)
INTEGERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**60), max_value=2**60),  # around 2**53, where doubles stop holding every integer
    st.integers(min_value=-(2**1100), max_value=2**1100),  # beyond the largest double: Infinity in JavaScript
    st.integers(min_value=FIRST_OVERFLOWING_INT - 2**972, max_value=FIRST_OVERFLOWING_INT + 2**972),
)
FLOATS = st.one_of(
    st.floats(allow_nan=False),
    st.floats(min_value=-2.3e-308, max_value=2.3e-308, allow_nan=False),  # subnormals
    st.floats(min_value=1e-9, max_value=1e-5),  # where 0.000001 turns into 1e-7
    st.integers(min_value=10**15, max_value=10**23).map(float),  # where 1e20 turns into 1e+21
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTEGERS | FLOATS | TEXTS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=20,
)


class TestJsJsonProperties(NodeOracleMixin, LoopbackCase):
    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(JSON_VALUES)
    def test_any_json_value_as_node_writes_it(self, value):
        self.assert_like_node(value)


class TestIntechSignatureAgainstNode(NodeOracleMixin, LoopbackCase):
    TIMESTAMP = "1699548600000"

    BODIES = [
        # the provider document's own example
        {"apiKey": "votre_cle_api", "phone": "221777777777", "amount": 1000, "codeService": "FREE_SN_WALLET_CASH_IN"},
        {"apiKey": "k", "phone": "221770000001", "amount": 1000.0, "fees": 0.1 + 0.2, "rate": 1e-7, "big": 1e21,
         "customer": "Aïcha Ngono — محمد 😀", "message": "Code : 123456\n€ \u2028 \"ok\""},
        {"data": {"items": [{"2": "b", "name": "Thé", "1": "a"}, [], {}], "10": None, "3": [True, False]},
         "externalTransactionId": "TXN_001", "urlIpn": "https://example.com/callback?a=1&b=é", "odd": "\ud800"},
    ]

    def test_signature_equals_the_documents_node_computation(self):
        for secret in ["votre_cle_hmac_secrete", "clé secrète €😀", ""]:
            for body in self.BODIES:
                with self.subTest(secret=secret, body=body):
                    node = self.ask_node(body, secret=secret, method="POST", timestamp=self.TIMESTAMP)
                    ours = signing.intech_signature(secret, "post", self.TIMESTAMP, js_stringify(body))
                    self.assertRegex(ours, r"\A[0-9a-f]{64}\Z")
                    self.assertEqual(ours, node["signature"])

    def test_python_json_dumps_would_not_match(self):
        """The oracle tells the two apart: a body serialised the Python way is refused by Intech."""
        body = self.BODIES[1]
        node = self.ask_node(body, secret="votre_cle_hmac_secrete", method="POST", timestamp=self.TIMESTAMP)
        python_text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        self.assertNotEqual(
            signing.intech_signature("votre_cle_hmac_secrete", "POST", self.TIMESTAMP, python_text), node["signature"]
        )
        self.assertNotEqual(python_text, node["expected"])
        self.assertEqual(js_stringify(body), node["expected"])
