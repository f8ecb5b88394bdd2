"""Provider errors in the user's language: each code is raised by the real WAP client against the simulator (over
loopback HTTP) and turned into a sentence by tools/provider_errors.py."""

import ast
import base64
from pathlib import Path
from unittest.mock import patch

from babel.messages.extract import extract_from_file

from odoo.tests import TransactionCase
from odoo.tools.translate import code_translations

from ..clients import base, chinqit, wap
from ..clients.registry import get_client_class
from ..tools import provider_errors
from ..tools.provider_errors import connection_result_text, provider_error_text, status_error_text
from .common import NotifySimulatorMixin
from .simulator import DEMO_INVOICE_AUTOMATION, DEMO_OTP_AUTOMATION
from .simulator.chinqit import DEMO_API_KEY as CHINQIT_API_KEY
from .simulator.chinqit import seed_demo as seed_chinqit
from .simulator.server import json_response
from .simulator.wap import DEMO_API_KEY, DEMO_SECRET_B64

ADDON = Path(__file__).resolve().parent.parent
RETRIED = ' It will be retried automatically.'
MAYBE_ACCEPTED = (" The message may or may not have been accepted: check in the provider's dashboard or with the "
                  "recipient before sending it again.")
ERROR_CLASSES = {'ProviderError', 'RetryableError', 'PermanentError', 'AccountError', 'OutcomeUnknownError'}


def codes_in_clients():
    """{code: [where]} of every `code=` / `error_code=` string literal passed to a call in clients/*.py (phone.py's
    InvalidPhoneError codes excepted: the rule model translates those itself)."""
    found = {}
    for path in sorted((ADDON / 'clients').glob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or getattr(node.func, 'id', None) == 'InvalidPhoneError':
                continue
            for keyword in node.keywords:
                if keyword.arg not in ('code', 'error_code'):
                    continue
                value = keyword.value.body if isinstance(keyword.value, ast.IfExp) else keyword.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.setdefault(value.value, []).append(f'{path.name}:{node.lineno}')
    return found


class TestProviderErrorTexts(NotifySimulatorMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.chinqit_sim = seed_chinqit(cls.simulator.chinqit)

    def setUp(self):
        super().setUp()
        self.chinqit_sim.reset()

    def make_client(self, secret=DEMO_SECRET_B64, base_url=None, **kwargs):
        kwargs.setdefault('environment', 'sandbox')
        client = wap.WapClient(base_url or self.simulator.base_url('wap'),
                               {'api_key': DEMO_API_KEY, 'api_secret': secret}, **kwargs)
        self.addCleanup(client.close)
        return client

    @staticmethod
    def otp(recipient='+237690000000', template=DEMO_OTP_AUTOMATION, variables=None):
        return base.OutboundMessage(
            recipient_e164=recipient, template_ref=template, idempotency_key='nr-err-1', scheduled_at=None,
            variables={'code_otp': '123456'} if variables is None else variables,
        )

    def raised(self, error_class, call, *args, **kwargs):
        with self.assertRaises(error_class) as caught:
            call(*args, **kwargs)
        return caught.exception

    def make_chinqit(self, api_key=CHINQIT_API_KEY, base_url=None, client_class=chinqit.ChinqitClient):
        client = client_class(base_url or self.simulator.base_url('chinqit'), {'api_key': api_key})
        self.addCleanup(client.close)
        return client

    def assertErrorText(self, error, code, expected, *, retrying=False, provider='WAP', **params):
        """The error has `code` and (at least) `params`, and reads `expected` in English."""
        self.assertEqual(error.code, code)
        self.assertEqual(error.params.get('provider'), provider)
        for key, value in params.items():
            self.assertEqual(error.params.get(key), value, key)
        text = provider_error_text(self.env, error, retrying=retrying)
        self.assertEqual(text, expected)
        self.assertNotIn('%(', text)
        self.assertIn(code, provider_errors.ERROR_TEXTS)

    def replace_answer(self, status, payload):
        """The simulator answers `payload` to every request of this test (answers it cannot produce itself)."""
        patcher = patch.object(self.wap_sim, 'handle', return_value=json_response(status, payload))
        patcher.start()
        self.addCleanup(patcher.stop)

    # --- configuration and input: nothing is sent ---------------------------------------------------------------

    def test_no_base_url(self):
        error = self.raised(base.PermanentError, wap.WapClient, '', {'api_key': 'k', 'api_secret': DEMO_SECRET_B64},
                            environment='sandbox')
        self.assertErrorText(error, 'no_base_url', "The WAP account has no base URL for the environment 'sandbox'.",
                             environment='sandbox')

    def test_missing_credentials(self):
        error = self.raised(base.PermanentError, self.make_client, secret=' ')
        self.assertErrorText(error, 'missing_credentials', 'The WAP account needs both the API key and the API secret.')

    def test_bad_secret(self):
        error = self.raised(base.PermanentError, self.make_client(secret='%%%').send, self.otp())
        self.assertErrorText(error, 'bad_secret', 'The API secret of the WAP account is not valid base64: copy it '
                                                  'exactly as given in the provider contract.')
        self.assertIn('not valid base64', error.message)  # the English message is unchanged
        self.assertEqual(self.wap_sim.requests, [])

    def test_no_template(self):
        error = self.raised(base.PermanentError, self.make_client().send, self.otp(template=' '))
        self.assertErrorText(error, 'no_template',
                             'The message has no WAP template reference: set the template reference on the rule.')

    def test_bad_recipient(self):
        error = self.raised(base.PermanentError, self.make_client().send, self.otp(recipient='+2376'))
        self.assertErrorText(error, 'bad_recipient', "The number '+2376' is not a valid international phone number.",
                             number='+2376')
        self.assertEqual(self.wap_sim.requests, [])

    # --- network ------------------------------------------------------------------------------------------------

    def test_unreachable(self):
        client = self.make_client(base_url='http://127.0.0.1:9', timeout=2)
        error = self.raised(base.RetryableError, client.send, self.otp())
        self.assertTrue(error.params['error_type'])
        self.assertErrorText(
            error, 'unreachable',
            f"WAP could not be reached ({error.params['error_type']}): check the base URL of the provider account and "
            "the server's internet access." + RETRIED, retrying=True)

    def test_timeout_of_a_status_read(self):
        reference = self.make_client().send(self.otp()).provider_ref
        self.wap_sim.fail_next('timeout_before', delay=1.5)
        error = self.raised(base.RetryableError, self.make_client(timeout=0.5).get_status, reference)
        self.assertErrorText(error, 'timeout', 'WAP did not answer within 0.5 seconds.', timeout=0.5)
        self.assertEqual(provider_error_text(self.env, error, retrying=True),
                         'WAP did not answer within 0.5 seconds.' + RETRIED)

    def test_no_answer_to_a_send(self):
        self.wap_sim.fail_next('timeout_after', delay=1.5)
        error = self.raised(base.OutcomeUnknownError, self.make_client(timeout=0.5).send, self.otp())
        self.assertErrorText(error, 'no_answer', 'WAP did not answer within 0.5 seconds.' + MAYBE_ACCEPTED)
        self.assertEqual(self.wap_sim.sent_count(), 1)

    # --- answers of the provider ----------------------------------------------------------------------------------

    def test_rate_limited(self):
        self.wap_sim.fail_next('429', retry_after=7)
        self.wap_sim.fail_next('429')
        client = self.make_client()
        error = self.raised(base.RetryableError, client.send, self.otp())
        self.assertErrorText(error, 'rate_limited',
                             'WAP asked us to slow down (too many requests) and to wait 7 seconds.' + RETRIED,
                             retrying=True, retry_after=7.0, status=429)
        error = self.raised(base.RetryableError, client.send, self.otp())
        self.assertErrorText(error, 'rate_limited', 'WAP asked us to slow down (too many requests).', retry_after=None)

    def test_server_error(self):
        for kind in ('502', '503'):
            self.wap_sim.fail_next(kind)
            error = self.raised(base.RetryableError, self.make_client().send, self.otp())
            self.assertErrorText(error, 'server_error', f'WAP had a problem on its side (HTTP {kind}).',
                                 status=int(kind))

    def test_server_error_after_receiving(self):
        self.wap_sim.fail_next('500')
        error = self.raised(base.OutcomeUnknownError, self.make_client().send, self.otp())
        self.assertIn('WAP had a problem on its side (HTTP 500) after receiving the message.',
                      provider_error_text(self.env, error))
        self.assertIn('may or may not have been accepted', provider_error_text(self.env, error))

    def test_credentials(self):
        client = self.make_client(secret=base64.b64encode(b'wrong-secret').decode())
        expected = 'WAP refused the credentials: check the API key and secret of the provider account.'
        error = self.raised(base.PermanentError, client.send, self.otp())
        self.assertErrorText(error, 'credentials', expected, status=401)
        error = self.raised(base.PermanentError, client.test_connection)
        self.assertErrorText(error, 'credentials', expected, status=401)
        self.assertEqual(error.message, 'WAP refused the credentials: check the API key and secret.')

    def test_refused(self):
        variables = {'customer_name': 'Awa', 'invoice_number': 'INV/1', 'amount_due': ''}
        error = self.raised(base.PermanentError, self.make_client().send,
                            self.otp(template=DEMO_INVOICE_AUTOMATION, variables=variables))
        self.assertErrorText(error, 'refused', 'WAP refused the request (HTTP 400): missing_variable_amount_due',
                             status=400, provider_message='missing_variable_amount_due')
        self.assertEqual(error.message, 'WAP refused the request: missing_variable_amount_due')

    def test_refused_other_status(self):
        # a status the client has no special meaning for: the generic sentence of BaseClient
        error = self.raised(base.PermanentError, self.make_client()._request, 'GET', '/automation/', idempotent=True)
        self.assertErrorText(error, 'refused', 'WAP refused the request (HTTP 405): method_not_allowed', status=405)
        self.assertEqual(error.message, 'WAP refused the request (HTTP 405): method_not_allowed')

    def test_refused_with_http_200(self):
        self.replace_answer(200, {'success': False, 'message': 'account_suspended'})
        error = self.raised(base.PermanentError, self.make_client().send, self.otp())
        self.assertErrorText(error, 'refused', 'WAP refused the request: account_suspended', status=200)
        self.replace_answer(200, {'success': False})
        error = self.raised(base.PermanentError, self.make_client().send, self.otp())
        self.assertErrorText(error, 'refused', 'WAP refused the request: no reason given', provider_message='')

    def test_automation_not_found(self):
        error = self.raised(base.PermanentError, self.make_client().send, self.otp(template='999'))
        self.assertErrorText(error, 'automation_not_found', "WAP does not know the automation '999', or it is "
                             "inactive: check the template reference of the rule.", reference='999', status=404)
        self.assertEqual(error.message, 'WAP automation 999 not found or inactive.')

    def test_message_not_found(self):
        error = self.raised(base.PermanentError, self.make_client().get_status, 'WAP000000000000.X00000')
        self.assertErrorText(error, 'message_not_found', "WAP does not know the message 'WAP000000000000.X00000'.",
                             reference='WAP000000000000.X00000')

    def test_unreadable_answer(self):
        client = self.make_client()
        self.wap_sim.fail_next('malformed')
        error = self.raised(base.OutcomeUnknownError, client.send, self.otp())
        self.assertErrorText(error, 'unreadable_answer', 'WAP sent an answer that cannot be read.' + MAYBE_ACCEPTED)
        reference = client.send(self.otp()).provider_ref
        self.wap_sim.fail_next('malformed')
        error = self.raised(base.RetryableError, client.get_status, reference)  # reading again is harmless
        self.assertErrorText(error, 'unreadable_answer', 'WAP sent an answer that cannot be read.' + RETRIED,
                             retrying=True)

    def test_no_reference(self):
        self.replace_answer(200, {'success': True, 'data': {'status': 'queued'}})
        error = self.raised(base.OutcomeUnknownError, self.make_client().send, self.otp())
        self.assertErrorText(error, 'no_reference', 'WAP answered without a message reference.' + MAYBE_ACCEPTED)

    # --- Chinqit ---------------------------------------------------------------------------------------------------

    def test_chinqit_account(self):
        error = self.raised(base.AccountError, chinqit.ChinqitClient, None, {'api_key': ''})
        self.assertErrorText(error, 'missing_api_key', 'The Chinqit account needs an API key.', provider='Chinqit')

        class HeaderStripping(chinqit.ChinqitClient):
            def _auth_headers(self, method, path):
                return {}

        error = self.raised(base.AccountError, self.make_chinqit(client_class=HeaderStripping).send,
                            self.sms('+22238089336'))
        self.assertErrorText(error, 'missing_api_key', 'Chinqit says that the API key is missing (HTTP 401): check '
                             'the API key of the provider account.', provider='Chinqit', status=401)
        error = self.raised(base.AccountError, self.make_chinqit(api_key='wrong').test_connection)
        self.assertErrorText(error, 'credentials', 'Chinqit refused the API key: check the API key of the provider '
                             'account.', provider='Chinqit', status=403)
        url = self.simulator.url + '/nothing'
        error = self.raised(base.AccountError, self.make_chinqit(base_url=url).test_connection)
        self.assertErrorText(error, 'not_provider_url', f'{url} does not answer like Chinqit (HTTP 404 from '
                             'something else): check the base URL.', provider='Chinqit')
        with patch.object(self.chinqit_sim, 'handle', return_value=json_response(400, {'error': 'bad'})):
            error = self.raised(base.AccountError, self.make_chinqit().test_connection)
        self.assertErrorText(error, 'not_provider_url', f'{self.simulator.base_url("chinqit")} does not answer like '
                             'Chinqit (HTTP 400 from something else): check the base URL.', provider='Chinqit')

    def test_chinqit_input(self):
        client = self.make_chinqit()
        cases = [
            (client.send, (self.sms('+237690000001'),), {}, 'not_mauritanian_recipient',
             "Chinqit only sends to Mauritanian numbers (+222): '+237690000001' is not one."),
            (client.send, (self.sms('+22212345678'),), {}, 'bad_mauritanian_recipient',
             "The number '+22212345678' is not a valid Mauritanian number: Chinqit expects +222 followed by 8 "
             "digits starting with 2, 3 or 4."),
            (client.send, (self.sms('+22238089336', channel='whatsapp'),), {}, 'channel_not_supported',
             "Chinqit cannot send this on the channel 'whatsapp'."),
            (client.send, (self.sms('+22238089336', body=''),), {}, 'empty_body',
             'The message has no text to send through Chinqit.'),
            (client.send_otp, ('+22238089336',), {'app_hash': 'short'}, 'bad_app_hash',
             'The SMS Retriever hash of the app must be exactly 11 characters (letters, digits, + or /) and only '
             'goes with the SMS channel of Chinqit.'),
            (client.verify_otp, ('+22238089336', '12 34'), {}, 'bad_otp_format',
             'A verification code is exactly 6 digits.'),
        ]
        for call, args, kwargs, code, expected in cases:
            with self.subTest(code=code):
                self.assertErrorText(self.raised(base.PermanentError, call, *args, **kwargs), code, expected,
                                     provider='Chinqit')
        self.assertEqual(self.chinqit_sim.requests, [])

    def test_chinqit_answers(self):
        client = self.make_chinqit()
        self.chinqit_sim.whatsapp_down = True
        error = self.raised(base.RetryableError, client.send_otp, '+22238089336', channel='whatsapp')
        self.assertErrorText(error, 'whatsapp_provider_error', 'Chinqit could not send through WhatsApp (HTTP 502): '
                             'WhatsApp provider error' + RETRIED, retrying=True, provider='Chinqit')
        with patch.object(self.chinqit_sim, 'handle', return_value=json_response(
                400, {'success': False, 'message': 'Validation failed', 'errors': ['message too long']})):
            error = self.raised(base.PermanentError, client.send, self.sms('+22238089336'))
        self.assertErrorText(error, 'refused', 'Chinqit refused the request (HTTP 400): Validation failed: message '
                             'too long', provider='Chinqit')

    @staticmethod
    def sms(recipient, body='Bonjour', channel='sms'):
        return base.OutboundMessage(recipient_e164=recipient, template_ref='', variables={}, scheduled_at=None,
                                    idempotency_key='nr-err-2', channel=channel, body=body)

    # --- results ------------------------------------------------------------------------------------------------

    def test_connection_ok(self):
        client = self.make_client()
        result = client.test_connection()
        self.assertEqual(result, 'Connection OK: WAP accepted the credentials.')  # still the English str
        self.assertIsInstance(result, str)
        self.assertEqual((result.code, result.params), ('connection_ok', {'provider': 'WAP', 'url': client.base_url}))
        self.assertEqual(connection_result_text(self.env, result),
                         f'Connection OK: WAP accepted the credentials ({client.base_url}).')
        self.assertEqual(connection_result_text(self.env, 'Some other client says OK.'), 'Some other client says OK.')

    def test_delivery_failed(self):
        client = self.make_client()
        self.wap_sim.progress_seconds = None
        reference = client.send(self.otp()).provider_ref
        self.wap_sim.advance(reference, 'failed')
        status = client.get_status(reference)
        self.assertEqual((status.status, status.error_code), ('failed', 'delivery_failed'))
        self.assertEqual(status.error, 'WAP reports the message as "failed".')
        self.assertEqual(status_error_text(self.env, status), "WAP reports the message as 'failed'.")
        self.replace_answer(200, {'success': True, 'data': {'reference': reference, 'status': 'undelivered',
                                                            'error': 'recipient_not_on_whatsapp'}})
        status = client.get_status(reference)
        self.assertEqual(status.error, 'recipient_not_on_whatsapp')
        self.assertEqual(status_error_text(self.env, status),
                         'WAP could not deliver the message: recipient_not_on_whatsapp')
        self.assertFalse(status_error_text(self.env, base.StatusResult(status='sent', provider_status='sent')))

    # --- fallbacks and coverage ---------------------------------------------------------------------------------

    def test_fallback_to_message(self):
        plain = base.OutcomeUnknownError('Unexpected error while sending: boom')
        self.assertEqual(plain.code, 'provider_error')
        self.assertEqual(provider_error_text(self.env, plain), 'Unexpected error while sending: boom')
        self.assertEqual(provider_error_text(self.env, plain, retrying=True),
                         'Unexpected error while sending: boom' + RETRIED)
        # a known code whose params are missing: the English message rather than a sentence with holes
        broken = base.PermanentError('WAP automation 7 not found or inactive.', code='automation_not_found')
        self.assertEqual(provider_error_text(self.env, broken), 'WAP automation 7 not found or inactive.')
        unknown = self.raised(base.PermanentError, get_client_class, 'nope')
        self.assertEqual(provider_error_text(self.env, unknown), "No client is available for the provider 'nope'.")
        coded = base.PermanentError('x', code='unknown_provider', params={'provider': 'nope'})
        self.assertEqual(provider_error_text(self.env, coded), "No client is available for the provider 'nope'.")

    def test_every_client_code_has_a_text(self):
        found = codes_in_clients()
        self.assertGreaterEqual(set(found), {'unreachable', 'timeout', 'no_answer', 'rate_limited', 'server_error',
                                             'refused', 'credentials', 'bad_secret', 'connection_ok',
                                             'delivery_failed', 'missing_api_key', 'bad_otp_format',
                                             'whatsapp_provider_error'})  # the scan does see the clients' codes
        texts = {**provider_errors.ERROR_TEXTS, **provider_errors.CONNECTION_TEXTS,
                 **provider_errors.STATUS_ERROR_TEXTS}
        missing = {code: where for code, where in found.items() if code not in texts}
        self.assertFalse(missing, 'codes raised in clients/ without a sentence in tools/provider_errors.py')

    def test_every_error_raised_by_the_clients_has_a_code(self):
        for path in sorted((ADDON / 'clients').glob('*.py')):
            name = path.name
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, 'id', None) in ERROR_CLASSES | {'on_garbage'}:
                    keywords = {keyword.arg for keyword in node.keywords}  # None: **kw passes the caller's code on
                    with self.subTest(where=f'{name}:{node.lineno}'):
                        self.assertTrue(keywords & {'code', None})

    def test_sentences_are_exported_for_translation(self):
        """Odoo's export (babel, keyword `_`) finds every `env._` literal of the module, lambdas included."""
        path = ADDON / 'tools' / 'provider_errors.py'
        literals = {
            node.args[0].value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == '_' and node.args
            and isinstance(node.args[0], ast.Constant)
        }
        exported = {message for _lineno, message, *_rest in extract_from_file('python', str(path),
                                                                              keywords={'_': None, '_lt': None})}
        self.assertGreaterEqual(len(literals), 20)
        self.assertLessEqual(literals, exported)

    def test_every_python_file_is_exportable(self):
        """Odoo's export gives up on a whole file when one `_()` call has an argument babel cannot read (an f-string):
        every literal of that file would then stay untranslated. Each file must extract, and each `_()` literal
        of it must be found."""
        for path in sorted(ADDON.glob('**/*.py')):
            if 'simulator' in path.parts or path.name.startswith('test_') or 'bench' in path.parts:
                continue
            with self.subTest(path=str(path.relative_to(ADDON))):
                literals = {
                    node.args[0].value for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.Call) and getattr(node.func, 'attr', getattr(node.func, 'id', None)) == '_'
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                }
                exported = {message for _lineno, message, *_rest in extract_from_file(
                    'python', str(path), keywords={'_': None, '_lt': None})}
                exported = {m[0] if isinstance(m, tuple) else m for m in exported}
                self.assertLessEqual(literals, exported)

    def test_translated_in_the_users_language(self):
        """The sentences are looked up in this module's translations (what i18n/fr.po will provide)."""
        french = {
            "%(provider)s asked us to slow down (too many requests) and to wait %(seconds)s seconds.":
                "%(provider)s demande de ralentir (trop de requêtes) et d'attendre %(seconds)s secondes.",
            "It will be retried automatically.": "Un nouvel essai sera fait automatiquement.",
        }

        def python_translations(module, lang):
            return french if (module, lang) == ('notify_rules', 'fr_FR') else {}

        error = base.RetryableError('WAP rate limit reached (HTTP 429); will retry.', code='rate_limited',
                                    params={'provider': 'WAP', 'retry_after': 2.5})
        self.env['res.lang']._activate_lang('fr_FR')
        with patch.object(code_translations, 'get_python_translations', side_effect=python_translations):
            text = provider_error_text(self.env(context={'lang': 'fr_FR'}), error, retrying=True)
        self.assertEqual(text, "WAP demande de ralentir (trop de requêtes) et d'attendre 3 secondes. "
                               "Un nouvel essai sera fait automatiquement.")
