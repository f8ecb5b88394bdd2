"""Wabek client against the simulator over real loopback HTTP: no database, no mocked `requests`."""

import hashlib
from unittest.mock import patch

import requests

from ..clients import base, wabek
from ..clients.base import OtpVerifyResult
from ..clients.registry import get_client_class
from .common import LoopbackCase
from .simulator import Simulator
from .simulator.server import json_response
from .simulator.wabek import DEMO_API_KEY, seed_demo

NUMBER = '+905551234567'  # the document's example
UUID_RE = r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$'
NETLIFY_TIMEOUT = {'errorMessage': '2026-12-03T10:00:00.000Z 5e2b Task timed out after 10.01 seconds'}


class HeaderStrippingClient(wabek.WabekClient):
    """What Wabek sees behind a proxy that drops the X-API-Key header."""

    def _auth_headers(self, method, path):
        return {'Content-Type': 'application/json'}


class UncheckedClient(wabek.WabekClient):
    """A client that would send the number and purpose as given: lets the simulator's own 400 reach the client."""

    @staticmethod
    def _recipient(raw):
        return raw

    @staticmethod
    def _purpose(purpose):
        return purpose


class WabekCase(LoopbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = Simulator().start()
        cls.addClassCleanup(cls.sim.stop)
        cls.wabek = seed_demo(cls.sim.wabek)

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.client = self.make_client()

    def make_client(self, api_key=DEMO_API_KEY, base_url=None, client_class=wabek.WabekClient, **kwargs):
        client = client_class(base_url or self.sim.base_url('wabek'), {'api_key': api_key}, **kwargs)
        self.addCleanup(client.close)
        return client

    @staticmethod
    def otp(recipient=NUMBER, purpose=None, channel='whatsapp'):
        return base.OutboundMessage(recipient_e164=recipient, template_ref='', variables={}, scheduled_at=None,
                                    idempotency_key='nr-otp-1', channel=channel, kind='otp', otp_purpose=purpose)

    def raised(self, error_class, call, *args, **kwargs):
        with self.assertRaises(error_class) as caught:
            call(*args, **kwargs)
        self.assertIs(type(caught.exception), error_class)
        return caught.exception

    def replace_answer(self, status, payload, headers=None):
        """The simulator answers `payload` to every request of this test (answers it cannot produce itself)."""
        patcher = patch.object(self.wabek, 'handle', return_value=json_response(status, payload, headers))
        patcher.start()
        self.addCleanup(patcher.stop)

    def send_and_code(self, recipient=NUMBER):
        ref = self.client.send_otp_message(self.otp(recipient)).provider_ref
        return ref, self.wabek.last_otp(recipient)

    @staticmethod
    def wrong(code):
        return '000000' if code != '000000' else '111111'


class TestWabekDeclarations(WabekCase):
    def test_registry_and_declarations(self):
        self.assertIs(get_client_class('wabek'), wabek.WabekClient)
        cls = wabek.WabekClient
        self.assertEqual((cls.code, cls.provider_label, cls.channels), ('wabek', 'Wabek', ('whatsapp',)))
        self.assertEqual((cls.supports_status, cls.supports_otp), (False, True))
        self.assertFalse(cls.can_lookup_by_idempotency_key)
        self.assertFalse(cls.deduplicates_by_idempotency_key)
        self.assertEqual(cls.otp_send_limits, ())
        self.assertEqual(cls.default_base_urls, {})

    def test_base_url_is_required_in_every_environment(self):
        for environment in ('production', 'test', 'sandbox'):
            with self.subTest(environment=environment):
                error = self.raised(base.AccountError, wabek.WabekClient, None, {'api_key': 'k'},
                                    environment=environment)
                self.assertEqual((error.code, error.params['environment']), ('no_base_url', environment))
        client = self.make_client(base_url='https://your-site.netlify.app/', environment='production')
        self.assertEqual(client.base_url, 'https://your-site.netlify.app')

    def test_missing_api_key(self):
        for credentials in ({}, {'api_key': '  '}, {'api_key': None}):
            with self.subTest(credentials=credentials):
                error = self.raised(base.AccountError, wabek.WabekClient, self.sim.base_url('wabek'), credentials)
                self.assertEqual((error.code, error.params), ('missing_api_key', {'provider': 'Wabek'}))

    def test_plain_messages_are_refused(self):
        msg = self.otp()
        msg.kind, msg.body = 'message', 'Votre facture est disponible.'
        error = self.raised(base.PermanentError, self.client.send, msg)
        self.assertEqual((error.code, error.params), ('otp_only', {'provider': 'Wabek'}))
        with self.assertRaisesRegex(NotImplementedError, 'no status endpoint'):
            self.client.get_status('550e8400-e29b-41d4-a716-446655440000')
        self.assertEqual(self.wabek.requests, [])


class TestWabekSendOtp(WabekCase):
    def test_send_and_verify(self):
        result = self.client.send_otp_message(self.otp())
        (request,) = self.wabek.requests
        self.assertEqual((request['method'], request['path']), ('POST', '/api/v1/otp'))
        self.assertEqual(request['json'], {'phone': NUMBER, 'purpose': 'verification'})
        self.assertEqual(request['headers']['X-API-Key'], DEMO_API_KEY)
        self.assertEqual(request['headers']['Content-Type'], 'application/json')
        self.assertRegex(result.provider_ref, UUID_RE)
        self.assertEqual((result.status, result.provider_status), ('sent', 'otp_sent'))
        self.assertEqual((result.cost, result.currency, result.scheduled_at), (None, None, None))
        self.assertEqual(result.raw, {'success': True, 'otpId': result.provider_ref})
        code = self.wabek.last_otp(NUMBER)
        self.assertRegex(code, r'^[0-9]{6}$')
        (delivered,) = self.wabek.delivered
        self.assertEqual((delivered['phone'], delivered['otp_id']), (NUMBER, result.provider_ref))
        self.assertIn(code, delivered['text'])
        record = self.wabek.otps[result.provider_ref]
        self.assertEqual(record['code_sha256'], hashlib.sha256(code.encode()).hexdigest())
        self.assertNotIn(code, [str(value) for value in record.values()], 'Wabek keeps only the hash')

        verdict = self.client.check_otp(result.provider_ref, NUMBER, code)
        self.assertEqual(verdict, OtpVerifyResult(verified=True, retries_left=None, message=''))
        self.assertEqual(self.wabek.requests[1]['path'], '/api/v1/otp-verify')
        self.assertEqual(self.wabek.requests[1]['json'], {'otp_id': result.provider_ref, 'otp': code})

    def test_purpose_and_number_as_people_write_it(self):
        self.client.send_otp_message(self.otp(recipient='+90 555 123 45 67', purpose='login'))
        self.client.send_otp_message(self.otp(recipient='0090 (555) 123-4567', purpose='  signup  '))
        self.assertEqual([r['json'] for r in self.wabek.requests],
                         [{'phone': NUMBER, 'purpose': 'login'}, {'phone': NUMBER, 'purpose': 'signup'}])
        self.client.send_otp_message(self.otp(recipient='+237690000001', purpose=''))  # any country; default purpose
        self.assertEqual(self.wabek.requests[-1]['json'], {'phone': '+237690000001', 'purpose': 'verification'})
        self.client.send_otp_message(self.otp(purpose='p' * 64))
        self.assertEqual(self.wabek.sent_count(), 4)

    def test_refused_before_any_request(self):
        cases = [
            (self.otp(channel='sms'), 'channel_not_supported'),
            (self.otp(recipient=''), 'bad_recipient'),
            (self.otp(recipient=None), 'bad_recipient'),
            (self.otp(recipient='905551234567'), 'bad_recipient'),  # no '+': no country
            (self.otp(recipient='+9055'), 'bad_recipient'),
            (self.otp(recipient='+90555123456789'), 'bad_recipient'),
            (self.otp(recipient='+90 555 ABC DEFG'), 'bad_recipient'),  # not a keypad's +90 555 222 3334
            (self.otp(purpose='   '), 'bad_otp_purpose'),
            (self.otp(purpose='p' * 65), 'bad_otp_purpose'),
            (self.otp(purpose=['login']), 'bad_otp_purpose'),
        ]
        for msg, code in cases:
            with self.subTest(recipient=msg.recipient_e164, purpose=msg.otp_purpose, channel=msg.channel):
                error = self.raised(base.PermanentError, self.client.send_otp_message, msg)
                self.assertEqual((error.code, error.params['provider']), (code, 'Wabek'))
        self.assertEqual(self.raised(base.PermanentError, self.client.send_otp_message,
                                     self.otp(recipient='+9055')).params['number'], '+9055')
        self.assertEqual(self.wabek.requests, [])

    def test_refused_by_wabek_with_400(self):
        client = self.make_client(client_class=UncheckedClient)
        error = self.raised(base.PermanentError, client.send_otp_message, self.otp(recipient='905551234567'))
        self.assertEqual((error.code, error.http_status), ('refused', 400))
        self.assertEqual(error.params['provider_message'],
                         'Invalid phone number: use the international format, e.g. +905551234567')
        self.assertEqual(error.message, 'Wabek refused the request: Invalid phone number: use the international '
                                        'format, e.g. +905551234567')
        error = self.raised(base.PermanentError, client.send_otp_message, self.otp(purpose='p' * 65))
        self.assertEqual(error.params['provider_message'], 'purpose is required (at most 64 characters)')
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_other_refusals(self):
        self.replace_answer(422, {'success': False, 'error': 'Number is not on WhatsApp'})
        error = self.raised(base.PermanentError, self.client.send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status, error.params['provider_message']),
                         ('refused', 422, 'Number is not on WhatsApp'))
        self.replace_answer(404, {'success': False, 'error': 'Unknown account'})  # a 404 in Wabek's JSON
        error = self.raised(base.PermanentError, self.client.send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status, error.params['provider_message']),
                         ('refused', 404, 'Unknown account'))

    def test_refused_with_http_200(self):
        self.replace_answer(200, {'success': False, 'error': 'WhatsApp instance is not connected'})
        error = self.raised(base.PermanentError, self.client.send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status, error.params['provider_message']),
                         ('refused', 200, 'WhatsApp instance is not connected'))
        self.replace_answer(200, {'otpId': 'abc'})  # `success` missing: not a confirmation
        self.assertEqual(self.raised(base.PermanentError, self.client.send_otp_message, self.otp()).code, 'refused')

    def test_success_without_otp_id(self):
        """A code may have gone out, but nobody could check it: a final failure, the person asks again."""
        for payload in ({'success': True}, {'success': True, 'otpId': ''}, {'success': True, 'otpId': None},
                        {'success': True, 'otpId': True}):
            with self.subTest(payload=payload):
                self.replace_answer(200, payload)
                error = self.raised(base.PermanentError, self.client.send_otp_message, self.otp())
                self.assertEqual((error.code, error.http_status), ('no_reference', 200))

    def test_missing_or_invalid_api_key(self):
        error = self.raised(base.AccountError, self.make_client(client_class=HeaderStrippingClient).send_otp_message,
                            self.otp())
        self.assertEqual((error.code, error.http_status, error.params['provider_message']),
                         ('credentials', 401, 'Missing API key'))
        self.assertIs(error.params['api_key_only'], True)
        error = self.raised(base.AccountError, self.make_client(api_key='someone-else').send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status), ('credentials', 403))
        self.assertEqual(error.message,
                         'Wabek refused the API key (HTTP 403): check the API key of the provider account.')
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_base_url_not_leading_to_wabek(self):
        """A 404 that is not Wabek's JSON (the simulator's own for an unknown prefix, Netlify's page for an unknown
        path) is the account's fault, on every call."""
        for base_url in (self.sim.url + '/nothing', self.sim.base_url('wabek') + '/v2'):
            client = self.make_client(base_url=base_url)
            for call, args in ((client.send_otp_message, (self.otp(),)),
                               (client.check_otp, ('550e8400-e29b-41d4-a716-446655440000', NUMBER, '123456'))):
                with self.subTest(base_url=base_url, call=call.__name__):
                    error = self.raised(base.AccountError, call, *args)
                    self.assertEqual((error.code, error.http_status), ('not_provider_url', 404))
                    self.assertEqual(error.params, {'provider': 'Wabek', 'url': base_url})
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_rate_limited(self):
        self.wabek.fail_next('429', retry_after=7)
        error = self.raised(base.RetryableError, self.client.send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status, error.retry_after), ('rate_limited', 429, 7.0))
        self.wabek.rate_limit = (3, 60)
        for _attempt in range(2):  # the 429 above counted nothing: it never reached Wabek's code
            self.client.send_otp_message(self.otp())
        self.client.check_otp('550e8400-e29b-41d4-a716-446655440000', NUMBER, '123456')  # checks count too
        error = self.raised(base.RetryableError, self.client.send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status), ('rate_limited', 429))
        self.assertTrue(1 <= error.retry_after <= 60, error.retry_after)
        self.wabek.advance_clock(61)
        self.client.send_otp_message(self.otp())
        self.assertEqual(self.wabek.sent_count(), 3)

    def test_server_errors(self):
        """No idempotency key: a 500 or 504 may come after Wabek sent the code; 502 (a gateway's page) and 503 prove
        it was not processed."""
        for kind in ('500', '504'):
            self.wabek.fail_next(kind)
            error = self.raised(base.OutcomeUnknownError, self.client.send_otp_message, self.otp())
            self.assertEqual((error.code, error.http_status), ('server_error_unknown', int(kind)))
            self.assertIs(error.retry_may_duplicate, True)
        for kind in ('502', '503'):
            self.wabek.fail_next(kind)
            error = self.raised(base.RetryableError, self.client.send_otp_message, self.otp())
            self.assertEqual((error.code, error.http_status), ('server_error', int(kind)))
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_netlify_function_timeout_after_delivery(self):
        """Netlify answers 502 {"errorMessage": "...Task timed out..."} when the function ran out of time: the code
        may be on its way, so this 502 is an unknown outcome, not a retry."""
        self.wabek.function_timeouts_after_delivery = 1
        error = self.raised(base.OutcomeUnknownError, self.client.send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status, error.params), ('server_error_unknown', 502,
                                                                         {'provider': 'Wabek', 'status': 502}))
        self.assertIs(error.retry_may_duplicate, True)
        self.assertIn('Task timed out', error.message)
        self.assertEqual(self.wabek.sent_count(), 1, 'the person did receive a code')
        self.assertTrue(self.client.send_otp_message(self.otp()).provider_ref)  # the next one is answered

    def test_whatsapp_disconnected(self):
        self.wabek.whatsapp_disconnected = True
        error = self.raised(base.RetryableError, self.client.send_otp_message, self.otp())
        self.assertEqual((error.code, error.http_status), ('server_error', 503))
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_unreadable_answer(self):
        """A 2xx that cannot be read: Wabek most likely sent the code; sending again would send a second one."""
        self.wabek.fail_next('malformed')
        error = self.raised(base.OutcomeUnknownError, self.client.send_otp_message, self.otp())
        self.assertEqual(error.code, 'unreadable_answer')
        self.assertIs(error.retry_may_duplicate, False)
        self.assertEqual(error.message, 'Wabek answered with an unreadable body. The code may or may not have been '
                                        'sent.')
        self.replace_answer(200, ['success', True])
        self.assertEqual(self.raised(base.OutcomeUnknownError, self.client.send_otp_message, self.otp()).code,
                         'unreadable_answer')

    def test_no_answer(self):
        self.wabek.fail_next('timeout_after', delay=1.5)
        error = self.raised(base.OutcomeUnknownError, self.make_client(timeout=0.5).send_otp_message, self.otp())
        self.assertEqual(error.code, 'no_answer')
        self.assertIs(error.retry_may_duplicate, True)
        self.assertEqual(self.wabek.sent_count(), 1)

    def test_unreachable(self):
        error = self.raised(base.RetryableError, self.make_client(base_url='http://127.0.0.1:9', timeout=2)
                            .send_otp_message, self.otp())
        self.assertEqual(error.code, 'unreachable')


class TestWabekCheckOtp(WabekCase):
    def test_wrong_code_then_right_then_used(self):
        ref, code = self.send_and_code()
        self.assertEqual(self.client.check_otp(ref, NUMBER, self.wrong(code)),
                         OtpVerifyResult(verified=False, retries_left=None, message='Invalid OTP'))
        self.assertTrue(self.client.check_otp(ref, NUMBER, f' {code} ').verified, 'a wrong code did not use it up')
        self.assertEqual(self.client.check_otp(ref, NUMBER, code),
                         OtpVerifyResult(verified=False, retries_left=None, message='OTP already used'))

    def test_by_otp_id_not_by_number(self):
        first, first_code = self.send_and_code()
        second, second_code = self.send_and_code()
        self.assertNotEqual(first, second)
        self.assertTrue(self.client.check_otp(first, '+237690000001', first_code).verified, 'the number is not sent')
        if second_code != first_code:
            self.assertEqual(self.client.check_otp(second, NUMBER, first_code).message, 'Invalid OTP')
        self.assertTrue(self.client.check_otp(second, NUMBER, second_code).verified)

    def test_expiry(self):
        ref, code = self.send_and_code()
        self.wabek.advance_clock(599)
        later, later_code = self.send_and_code()
        self.assertTrue(self.client.check_otp(ref, NUMBER, code).verified, 'valid for 10 minutes')
        self.wabek.advance_clock(601)
        self.assertEqual(self.client.check_otp(later, NUMBER, later_code),
                         OtpVerifyResult(verified=False, retries_left=None, message='OTP expired'))

    def test_expiry_is_configurable(self):
        self.wabek.expiry_minutes = 1  # Wabek's OTP_EXPIRY_MINUTES
        ref, code = self.send_and_code()
        self.assertIn('expires in 1 minutes', self.wabek.delivered[-1]['text'])
        self.wabek.advance_clock(61)
        self.assertEqual(self.client.check_otp(ref, NUMBER, code).message, 'OTP expired')

    def test_unknown_or_other_accounts_otp(self):
        self.assertEqual(self.client.check_otp('550e8400-e29b-41d4-a716-446655440000', NUMBER, '123456'),
                         OtpVerifyResult(verified=False, retries_left=None, message='OTP not found'))
        ref, code = self.send_and_code()
        self.wabek.add_account('other-site-key')
        other = self.make_client(api_key='other-site-key')
        self.assertEqual(other.check_otp(ref, NUMBER, code).message, 'OTP not found')
        self.assertTrue(self.client.check_otp(ref, NUMBER, code).verified)

    def test_refused_before_any_request(self):
        ref = '550e8400-e29b-41d4-a716-446655440000'
        cases = [
            ((ref, NUMBER, '12345'), {}, 'bad_otp_format'),
            ((ref, NUMBER, '1234567'), {}, 'bad_otp_format'),
            ((ref, NUMBER, '12a456'), {}, 'bad_otp_format'),
            ((ref, NUMBER, None), {}, 'bad_otp_format'),
            ((ref, NUMBER, '١٢٣٤٥٦'), {}, 'bad_otp_format'),  # Arabic-Indic digits: Wabek's codes are 0-9
            (('', NUMBER, '123456'), {}, 'missing_otp_reference'),
            ((None, NUMBER, '123456'), {}, 'missing_otp_reference'),
            ((ref, NUMBER, '123456'), {'channel': 'sms'}, 'channel_not_supported'),
        ]
        for args, kwargs, code in cases:
            with self.subTest(args=args, kwargs=kwargs):
                error = self.raised(base.PermanentError, self.client.check_otp, *args, **kwargs)
                self.assertEqual((error.code, error.params['provider']), (code, 'Wabek'))
        self.assertEqual(self.wabek.requests, [])

    def test_verdict_with_a_4xx(self):
        """The document does not say which status comes with {"valid": false}: a 4xx carrying it is an answer."""
        for status in (400, 404, 410, 422):
            with self.subTest(status=status):
                self.replace_answer(status, {'valid': False, 'reason': 'OTP expired'})
                self.assertEqual(self.client.check_otp('x-1', NUMBER, '123456'),
                                 OtpVerifyResult(verified=False, retries_left=None, message='OTP expired'))
        self.replace_answer(400, {'valid': False})
        self.assertEqual(self.client.check_otp('x-1', NUMBER, '123456').message, '')

    def test_refusals_of_the_check(self):
        self.replace_answer(400, {'success': False, 'error': 'otp_id and otp are required'})
        error = self.raised(base.PermanentError, self.client.check_otp, 'x-1', NUMBER, '123456')
        self.assertEqual((error.code, error.params['provider_message']), ('refused', 'otp_id and otp are required'))
        self.replace_answer(400, {'valid': True})  # not a verdict we can believe
        self.assertEqual(self.raised(base.PermanentError, self.client.check_otp, 'x-1', NUMBER, '123456').code,
                         'refused')
        self.replace_answer(200, {'success': False, 'error': 'Invalid otp_id'})
        error = self.raised(base.PermanentError, self.client.check_otp, 'x-1', NUMBER, '123456')
        self.assertEqual((error.code, error.http_status, error.params['provider_message']),
                         ('refused', 200, 'Invalid otp_id'))

    def test_answers_that_let_nobody_in(self):
        """Only the JSON boolean true verifies; a 2xx without a boolean verdict is an unknown outcome."""
        for payload in ({'success': True}, {'valid': 'true'}, {'valid': 1}, {'valid': None}, {}):
            with self.subTest(payload=payload):
                self.replace_answer(200, payload)
                error = self.raised(base.OutcomeUnknownError, self.client.check_otp, 'x-1', NUMBER, '123456')
                self.assertEqual((error.code, error.http_status), ('unreadable_answer', 200))
        self.replace_answer(200, {'valid': False, 'reason': 'Invalid OTP'})
        self.assertFalse(self.client.check_otp('x-1', NUMBER, '123456').verified)

    def test_malformed_answer(self):
        ref, code = self.send_and_code()
        self.wabek.fail_next('malformed')
        error = self.raised(base.OutcomeUnknownError, self.client.check_otp, ref, NUMBER, code)
        self.assertEqual((error.code, error.retry_may_duplicate), ('unreadable_answer', False))

    def test_faults(self):
        ref, code = self.send_and_code()
        for kind in ('500', '504'):
            self.wabek.fail_next(kind)
            error = self.raised(base.OutcomeUnknownError, self.client.check_otp, ref, NUMBER, code)
            self.assertEqual((error.code, error.retry_may_duplicate), ('server_error_unknown', True))
        for kind in ('502', '503'):
            self.wabek.fail_next(kind)
            self.assertEqual(self.raised(base.RetryableError, self.client.check_otp, ref, NUMBER, code).code,
                             'server_error')
        self.wabek.fail_next('429', retry_after=30)
        self.assertEqual(self.raised(base.RetryableError, self.client.check_otp, ref, NUMBER, code).retry_after, 30)
        self.wabek.fail_next('timeout_after', delay=1.5)
        error = self.raised(base.OutcomeUnknownError, self.make_client(timeout=0.5).check_otp, ref, NUMBER, code)
        self.assertEqual((error.code, error.retry_may_duplicate), ('no_answer', True))
        self.assertEqual(self.client.check_otp(ref, NUMBER, code).message, 'OTP already used',
                         'the check that timed out had used the code')

    def test_netlify_function_failure_on_a_check(self):
        self.replace_answer(502, NETLIFY_TIMEOUT)
        error = self.raised(base.OutcomeUnknownError, self.client.check_otp, 'x-1', NUMBER, '123456')
        self.assertEqual((error.code, error.http_status), ('server_error_unknown', 502))

    def test_refused_key(self):
        ref, code = self.send_and_code()
        for client, status in ((self.make_client(client_class=HeaderStrippingClient), 401),
                               (self.make_client(api_key='someone-else'), 403)):
            with self.subTest(status=status):
                error = self.raised(base.AccountError, client.check_otp, ref, NUMBER, code)
                self.assertEqual((error.code, error.http_status), ('credentials', status))
        self.assertTrue(self.client.check_otp(ref, NUMBER, code).verified)


class TestWabekConnection(WabekCase):
    def test_ok_sends_nothing_and_uses_no_code(self):
        ref, code = self.send_and_code()
        result = self.client.test_connection()
        self.assertEqual(result, 'Connection OK: Wabek accepted the API key.')
        self.assertEqual((result.code, result.params), ('connection_ok', {'provider': 'Wabek',
                                                                          'url': self.client.base_url}))
        (_send, request) = self.wabek.requests
        self.assertEqual((request['path'], request['json']['otp'], request['response_status']),
                         ('/api/v1/otp-verify', '000000', 200))
        self.assertRegex(request['json']['otp_id'], UUID_RE)
        self.assertNotEqual(request['json']['otp_id'], ref)
        self.assertEqual(self.wabek.sent_count(), 1, 'only the code asked for above')
        self.assertTrue(self.client.check_otp(ref, NUMBER, code).verified, "nobody's code was touched")

    def test_refused_key(self):
        error = self.raised(base.AccountError, self.make_client(client_class=HeaderStrippingClient).test_connection)
        self.assertEqual((error.code, error.http_status), ('credentials', 401))
        error = self.raised(base.AccountError, self.make_client(api_key='someone-else').test_connection)
        self.assertEqual((error.code, error.http_status), ('credentials', 403))

    def test_wrong_url(self):
        for base_url in (self.sim.url + '/nothing', self.sim.base_url('wabek') + '/v2', self.sim.base_url('chinqit')):
            with self.subTest(base_url=base_url):
                error = self.raised(base.AccountError, self.make_client(base_url=base_url).test_connection)
                self.assertEqual((error.code, error.params), ('not_provider_url', {'provider': 'Wabek',
                                                                                   'url': base_url}))

    def test_answers_that_are_not_wabeks(self):
        """Only Wabek's verdict (a boolean `valid`, with 200 or a 4xx) proves the key was accepted."""
        for status, payload in ((200, {'ok': True}), (400, {'error': 'bad request'}), (405, {'valid': 'no'}),
                                (200, {'success': True})):
            with self.subTest(status=status, payload=payload), patch.object(
                    self.wabek, 'handle', return_value=json_response(status, payload)):
                error = self.raised(base.AccountError, self.client.test_connection)
                self.assertEqual((error.code, error.http_status, error.params['status']),
                                 ('not_provider_url', status, status))
        self.wabek.fail_next('malformed')  # a site answering its HTML page with 200 to anything
        self.assertEqual(self.raised(base.AccountError, self.client.test_connection).code, 'not_provider_url')
        for status in (400, 404):
            with self.subTest(status=status), patch.object(self.wabek, 'handle', return_value=json_response(
                    status, {'valid': False, 'reason': 'OTP not found'})):
                self.assertEqual(self.client.test_connection().code, 'connection_ok')

    def test_server_errors_are_retryable(self):
        for kind in ('500', '502', '503', '504', '429'):
            with self.subTest(kind=kind):
                self.wabek.fail_next(kind)  # checking an unknown otp_id changes nothing: safe to ask again
                error = self.raised(base.RetryableError, self.client.test_connection)
                self.assertEqual(error.http_status, int(kind))
        self.replace_answer(502, NETLIFY_TIMEOUT)
        self.assertEqual(self.raised(base.RetryableError, self.client.test_connection).code, 'server_error')


class TestWabekSimulatorContract(WabekCase):
    """The simulator refuses what the document (and our reading of its silences) says Wabek refuses."""

    def post(self, path, payload, api_key=DEMO_API_KEY, **kwargs):
        headers = {'X-API-Key': api_key} if api_key else {}
        response = requests.post(self.sim.base_url('wabek') + path, json=payload, headers=headers, timeout=5,
                                 **kwargs)
        return response.status_code, response.json()

    def test_document_examples(self):
        status, body = self.post('/api/v1/otp', {'phone': NUMBER, 'purpose': 'verification'})
        self.assertEqual((status, sorted(body), body['success']), (200, ['otpId', 'success'], True))
        code = self.wabek.last_otp(NUMBER)
        self.assertEqual(self.post('/api/v1/otp-verify', {'otp_id': body['otpId'], 'otp': code}),
                         (200, {'valid': True}))
        self.assertEqual(self.post('/api/v1/otp-verify', {'otp_id': body['otpId'], 'otp': code}),
                         (200, {'valid': False, 'reason': 'OTP already used'}))

    def test_authentication(self):
        good = {'phone': NUMBER, 'purpose': 'login'}
        self.assertEqual(self.post('/api/v1/otp', good, api_key=None),
                         (401, {'success': False, 'error': 'Missing API key'}))
        self.assertEqual(self.post('/api/v1/otp-verify', {'otp_id': 'x', 'otp': '123456'}, api_key='nope'),
                         (403, {'success': False, 'error': 'Invalid API key'}))
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_phone_and_purpose(self):
        refused_phones = ('905551234567', '+90 555 123 4567', '+0905551234567', '+1234567', '+1234567890123456',
                          '00905551234567', '', 905551234567, None)
        for phone in refused_phones:
            with self.subTest(phone=phone):
                self.assertEqual(self.post('/api/v1/otp', {'phone': phone, 'purpose': 'login'}), (400, {
                    'success': False,
                    'error': 'Invalid phone number: use the international format, e.g. +905551234567'}))
        for purpose in (None, '', '   ', 'p' * 65, 7):
            with self.subTest(purpose=purpose):
                payload = {'phone': NUMBER} if purpose is None else {'phone': NUMBER, 'purpose': purpose}
                self.assertEqual(self.post('/api/v1/otp', payload), (400, {
                    'success': False, 'error': 'purpose is required (at most 64 characters)'}))
        self.assertEqual(self.wabek.sent_count(), 0)
        for phone in ('+12345678', '+123456789012345'):  # 8 and 15 digits: E.164's bounds
            self.assertEqual(self.post('/api/v1/otp', {'phone': phone, 'purpose': 'p' * 64})[0], 200)
        self.assertEqual(self.wabek.sent_count(), 2)

    def test_malformed_requests(self):
        url = self.sim.base_url('wabek') + '/api/v1/otp'
        headers = {'X-API-Key': DEMO_API_KEY}
        for data, content_type in ((b'{not json', 'application/json'), (b'[1, 2]', 'application/json'),
                                   (b'phone=%2B905551234567&purpose=login', 'application/x-www-form-urlencoded'),
                                   (b'', 'application/json')):
            with self.subTest(data=data):
                response = requests.post(url, data=data, headers={**headers, 'Content-Type': content_type},
                                         timeout=5)
                self.assertEqual((response.status_code, response.json()),
                                 (400, {'success': False, 'error': 'Invalid JSON body'}))
        for payload in ({}, {'otp_id': 'x'}, {'otp': '123456'}, {'otp_id': 7, 'otp': '123456'},
                        {'otp_id': 'x', 'otp': 123456}):
            with self.subTest(payload=payload):
                self.assertEqual(self.post('/api/v1/otp-verify', payload),
                                 (400, {'success': False, 'error': 'otp_id and otp are required'}))
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_routes(self):
        response = requests.post(self.sim.base_url('wabek') + '/api/v1/otp/send', json={}, timeout=5)
        self.assertEqual((response.status_code, response.headers['Content-Type']), (404, 'text/html; charset=utf-8'))
        self.assertIn('Page not found', response.text)
        response = requests.get(self.sim.base_url('wabek') + '/api/v1/otp', timeout=5)
        self.assertEqual((response.status_code, response.json()), (405, {'success': False,
                                                                          'error': 'Method not allowed'}))
        self.assertEqual(self.post('/api/v1/otp/', {'phone': NUMBER, 'purpose': 'login'})[0], 200)

    def test_codes_hashed_six_digits_delivered(self):
        ids = [self.post('/api/v1/otp', {'phone': NUMBER, 'purpose': 'login'})[1]['otpId'] for _index in range(20)]
        self.assertEqual(len(set(ids)), 20)
        self.assertEqual(self.wabek.sent_count(), 20)
        for message in self.wabek.delivered:
            self.assertRegex(message['code'], r'^[0-9]{6}$')
            self.assertEqual(message['text'], f'Your login code is {message["code"]}. It expires in 10 minutes.')
            record = self.wabek.otps[message['otp_id']]
            self.assertEqual(set(record), {'api_key', 'phone', 'purpose', 'code_sha256', 'expires_at', 'used'})
            self.assertEqual(record['code_sha256'], hashlib.sha256(message['code'].encode()).hexdigest())
        self.assertEqual(self.wabek.last_otp(NUMBER), self.wabek.delivered[-1]['code'])
        self.assertIsNone(self.wabek.last_otp('+237690000001'))

    def test_rate_limit(self):
        """Ours: 60 requests a minute per API key, both endpoints; Retry-After says when the next one passes."""
        self.assertEqual(self.wabek.rate_limit, (60, 60))
        statuses = [self.post('/api/v1/otp-verify', {'otp_id': 'x', 'otp': '123456'})[0] for _index in range(60)]
        self.assertEqual(set(statuses), {200})
        response = requests.post(self.sim.base_url('wabek') + '/api/v1/otp', json={'phone': NUMBER,
                                                                                   'purpose': 'login'},
                                 headers={'X-API-Key': DEMO_API_KEY}, timeout=5)
        self.assertEqual((response.status_code, response.json()), (429, {'success': False,
                                                                          'error': 'Too many requests'}))
        self.assertTrue(1 <= int(response.headers['Retry-After']) <= 60)
        self.wabek.add_account('other-site-key')
        self.assertEqual(self.post('/api/v1/otp-verify', {'otp_id': 'x', 'otp': '1'}, api_key='other-site-key')[0],
                         200, 'another key has its own limit')
        self.wabek.advance_clock(60)
        self.assertEqual(self.post('/api/v1/otp', {'phone': NUMBER, 'purpose': 'login'})[0], 200)
        self.assertEqual(self.wabek.sent_count(), 1)

    def test_shared_faults_answer_in_wabeks_json(self):
        self.wabek.fail_next('500')
        self.wabek.fail_next('429', retry_after=5)
        good = {'phone': NUMBER, 'purpose': 'login'}
        self.assertEqual(self.post('/api/v1/otp', good), (500, {'success': False, 'error': 'simulated_server_error'}))
        response = requests.post(self.sim.base_url('wabek') + '/api/v1/otp', json=good,
                                 headers={'X-API-Key': DEMO_API_KEY}, timeout=5)
        self.assertEqual((response.status_code, response.headers['Retry-After'], response.json()['success']),
                         (429, '5', False))
        self.assertEqual(self.wabek.sent_count(), 0)

    def test_reset_keeps_accounts_only(self):
        self.wabek.add_account('kept-key')
        self.post('/api/v1/otp', {'phone': NUMBER, 'purpose': 'login'})
        self.wabek.expiry_minutes, self.wabek.rate_limit = 1, (1, 60)
        self.wabek.whatsapp_disconnected, self.wabek.function_timeouts_after_delivery = True, 2
        self.wabek.advance_clock(30)
        self.wabek.reset()
        self.assertEqual((self.wabek.otps, self.wabek.delivered, self.wabek.requests), ({}, [], []))
        self.assertEqual((self.wabek.expiry_minutes, self.wabek.rate_limit, self.wabek.clock_offset), (10, (60, 60), 0))
        self.assertEqual((self.wabek.whatsapp_disconnected, self.wabek.function_timeouts_after_delivery), (False, 0))
        self.assertIn('kept-key', self.wabek.accounts)
