"""Chinqit client against the simulator over real loopback HTTP: no database, no mocked `requests`."""

from unittest.mock import patch

import phonenumbers
import requests

from ..clients import base, chinqit, phone, wap
from ..clients.base import OtpVerifyResult
from ..clients.registry import get_client_class
from .common import LoopbackCase
from .simulator import Simulator
from .simulator.chinqit import DEMO_API_KEY, seed_demo
from .simulator.server import json_response

NUMBER = '+22238089336'


class HeaderStrippingClient(chinqit.ChinqitClient):
    """What Chinqit sees behind a proxy that drops the X-API-Key header."""

    def _auth_headers(self, method, path):
        return {'Content-Type': 'application/json'}


class UnnormalizedClient(chinqit.ChinqitClient):
    """A client that would send the number as typed: lets the simulator's own 400 reach send()."""

    @staticmethod
    def _recipient(raw):
        return raw


class TestMauritanianNumbers(LoopbackCase):
    def test_document_examples(self):
        for raw in ('+22238089336', '22238089336', '38089336'):
            with self.subTest(raw=raw):
                self.assertEqual(phone.to_mauritanian_e164(raw), '+22238089336')
        # "+222 27 63 56 42 -> error: spaces" is the API's rule; we normalise before sending
        self.assertEqual(phone.to_mauritanian_e164('+222 27 63 56 42'), '+22227635642')
        refused = {'12345678': 'bad_prefix', '+1234567890': 'not_mauritanian'}
        for raw, code in refused.items():
            with self.subTest(raw=raw), self.assertRaises(phone.InvalidPhoneError) as caught:
                phone.to_mauritanian_e164(raw)
            self.assertEqual((caught.exception.code, caught.exception.raw), (code, raw))
        self.assertIn('must start with 2, 3 or 4', str(self._error('12345678')))
        self.assertIn('not a Mauritanian number', str(self._error('+1234567890')))

    def test_what_odoo_users_type(self):
        for raw in ('27 63 56 42', '27-63-56-42', '27.63.56.42', '(+222) 27 63 56 42', '0022227635642',
                    '222 27 63 56 42'):
            with self.subTest(raw=raw):
                self.assertEqual(phone.to_mauritanian_e164(raw), '+22227635642')

    def test_errors(self):
        cases = {
            '': 'empty', None: 'empty', ' - ': 'empty',
            '+237690000001': 'not_mauritanian', '0033612345678': 'not_mauritanian',
            '80012345': 'bad_prefix', '+22212345678': 'bad_prefix', '52345678': 'bad_prefix',
            '3808933': 'invalid', '380893361': 'invalid', '+2223808933': 'invalid', '+222380893361': 'invalid',
            '3808ABCD': 'invalid', '+': 'invalid',
        }
        for raw, code in cases.items():
            with self.subTest(raw=raw):
                self.assertEqual(self._error(raw).code, code)
        self.assertEqual(str(self._error('+237690000001')),
                         "The number '+237690000001' is not a Mauritanian number (+222), it is a number of Cameroon "
                         "(CM).")
        self.assertEqual(self._error('+237690000001').country, 'CM')

    def test_default_country(self):
        """A number without country code is Mauritanian unless it is a valid number of the given country."""
        self.assertEqual(self._error('690000001', 'CM').code, 'not_mauritanian')
        self.assertEqual(self._error('06 12 34 56 78', 'FR').code, 'not_mauritanian')
        self.assertEqual(phone.to_mauritanian_e164('38089336', 'CM'), NUMBER)
        self.assertEqual(phone.to_mauritanian_e164('38089336', 'mr'), NUMBER)
        self.assertEqual(self._error('38089336', 'XX').code, 'unknown_country')

    def test_provider_rule_not_phonenumbers_metadata(self):
        """phonenumbers' MR metadata disagrees with Chinqit's rule (8 digits starting with 2, 3 or 4) both ways."""
        for raw, by_metadata in (('+22245000000', False), ('+22225500000', False), ('+22280012345', True)):
            with self.subTest(raw=raw):
                self.assertIs(phonenumbers.is_valid_number(phonenumbers.parse(raw)), by_metadata)
        self.assertEqual(phone.to_mauritanian_e164('+22245000000'), '+22245000000')
        self.assertEqual(phone.to_mauritanian_e164('25500000'), '+22225500000')
        self.assertEqual(self._error('+22280012345').code, 'bad_prefix')

    @staticmethod
    def _error(raw, default_country=None):
        try:
            phone.to_mauritanian_e164(raw, default_country)
        except phone.InvalidPhoneError as exc:
            return exc
        raise AssertionError(f'{raw!r} was accepted')


class ChinqitCase(LoopbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = Simulator().start()
        cls.addClassCleanup(cls.sim.stop)
        cls.chinqit = seed_demo(cls.sim.chinqit)

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.client = self.make_client()

    def make_client(self, api_key=DEMO_API_KEY, base_url=None, client_class=chinqit.ChinqitClient, **kwargs):
        client = client_class(base_url or self.sim.base_url('chinqit'), {'api_key': api_key}, **kwargs)
        self.addCleanup(client.close)
        return client

    @staticmethod
    def sms(recipient=NUMBER, body='Votre facture INV/1 est disponible.', channel='sms'):
        return base.OutboundMessage(recipient_e164=recipient, template_ref='', variables={}, scheduled_at=None,
                                    idempotency_key='nr-1', channel=channel, body=body)

    def raised(self, error_class, call, *args, **kwargs):
        with self.assertRaises(error_class) as caught:
            call(*args, **kwargs)
        self.assertIs(type(caught.exception), error_class)
        return caught.exception

    def replace_answer(self, status, payload):
        """The simulator answers `payload` to every request of this test (answers it cannot produce itself)."""
        patcher = patch.object(self.chinqit, 'handle', return_value=json_response(status, payload))
        patcher.start()
        self.addCleanup(patcher.stop)


class TestChinqitSend(ChinqitCase):
    def test_registry_and_declarations(self):
        self.assertIs(get_client_class('chinqit'), chinqit.ChinqitClient)
        self.assertEqual(chinqit.ChinqitClient.channels, ('sms', 'whatsapp'))
        self.assertFalse(chinqit.ChinqitClient.can_lookup_by_idempotency_key)
        self.assertFalse(chinqit.ChinqitClient.deduplicates_by_idempotency_key)
        self.assertEqual(chinqit.ChinqitClient.unprocessed_statuses, {502, 503})
        self.assertEqual(chinqit.ChinqitClient(None, {'api_key': 'k'}, environment='test').base_url,
                         'https://sms.chinqit.com')

    def test_send_happy_path(self):
        result = self.client.send(self.sms(recipient='+222 27 63 56 42'))
        (request,) = self.chinqit.requests
        self.assertEqual((request['method'], request['path']), ('POST', '/messages/send'))
        self.assertEqual(request['json'], {'message': 'Votre facture INV/1 est disponible.',
                                           'phoneNumber': '+22227635642'})
        self.assertEqual(request['headers']['X-API-Key'], DEMO_API_KEY)
        self.assertEqual(request['headers']['Content-Type'], 'application/json')
        self.assertRegex(result.provider_ref, r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$')
        self.assertEqual(self.chinqit.messages[result.provider_ref]['phone'], '+22227635642')
        self.assertEqual((result.status, result.provider_status), ('sent', 'queued'))
        self.assertEqual((result.cost, result.currency, result.scheduled_at), (None, None, None))
        self.assertEqual(result.raw, {'success': True, 'messageId': result.provider_ref, 'queued': True})

    def test_accepted_but_not_queued(self):
        self.replace_answer(200, {'success': True, 'messageId': 'm-1'})
        result = self.client.send(self.sms())
        self.assertEqual((result.provider_ref, result.status, result.provider_status), ('m-1', 'sent', 'accepted'))

    def test_refused_before_any_request(self):
        cases = [
            (self.sms(channel='whatsapp'), 'channel_not_supported'),
            (self.sms(body='  '), 'empty_body'),
            (self.sms(body=None), 'empty_body'),
            (self.sms(recipient='+237690000001'), 'not_mauritanian_recipient'),
            (self.sms(recipient='+22212345678'), 'bad_mauritanian_recipient'),
            (self.sms(recipient=''), 'bad_mauritanian_recipient'),
        ]
        for msg, code in cases:
            with self.subTest(code=code):
                error = self.raised(base.PermanentError, self.client.send, msg)
                self.assertEqual(error.code, code)
                self.assertEqual(error.params['provider'], 'Chinqit')
        self.assertEqual(self.chinqit.requests, [])

    def test_missing_api_key(self):
        error = self.raised(base.AccountError, chinqit.ChinqitClient, None, {'api_key': ' '})
        self.assertEqual(error.code, 'missing_api_key')
        error = self.raised(base.AccountError, self.make_client(client_class=HeaderStrippingClient).send, self.sms())
        self.assertEqual((error.code, error.http_status), ('missing_api_key', 401))
        self.assertEqual(error.params['provider_message'], 'API key is required')
        self.assertEqual(error.message,
                         'Chinqit says the API key is missing: check the API key of the provider account.')

    def test_invalid_api_key(self):
        error = self.raised(base.AccountError, self.make_client(api_key='someone-else').send, self.sms())
        self.assertEqual((error.code, error.http_status), ('credentials', 403))
        self.assertEqual(error.message, 'Chinqit refused the API key: check the API key of the provider account.')
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_base_url_not_leading_to_chinqit(self):
        """A 404 outside Chinqit's envelope (the simulator's own for an unknown prefix, an Express-style page for an
        unknown path) is the account's fault, on every call."""
        for base_url in (self.sim.url + '/nothing', self.sim.base_url('chinqit') + '/v1'):
            client = self.make_client(base_url=base_url)
            calls = ((client.send, (self.sms(),)), (client.send_otp, (NUMBER,)),
                     (client.verify_otp, (NUMBER, '123456')))
            for call, args in calls:
                with self.subTest(base_url=base_url, call=call.__name__):
                    error = self.raised(base.AccountError, call, *args)
                    self.assertEqual((error.code, error.http_status), ('not_provider_url', 404))
                    self.assertEqual(error.params, {'provider': 'Chinqit', 'url': base_url})
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_refused_with_400(self):
        client = self.make_client(client_class=UnnormalizedClient)
        error = self.raised(base.PermanentError, client.send, self.sms(recipient='+222 27 63 56 42'))
        self.assertEqual((error.code, error.http_status), ('refused', 400))
        self.assertEqual(error.params['provider_message'],
                         'Validation failed: Phone number must not contain spaces or dashes')
        self.assertEqual(error.message, 'Chinqit refused the request: Validation failed: Phone number must not '
                                        'contain spaces or dashes')

    def test_refused_with_http_200(self):
        self.chinqit.refuse_with_200 = 'Insufficient balance'
        error = self.raised(base.PermanentError, self.client.send, self.sms())
        self.assertEqual((error.code, error.http_status), ('refused', 200))
        self.assertEqual(error.params['provider_message'], 'Insufficient balance')
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_rate_limited(self):
        self.chinqit.fail_next('429', retry_after=7)
        error = self.raised(base.RetryableError, self.client.send, self.sms())
        self.assertEqual((error.code, error.http_status, error.retry_after), ('rate_limited', 429, 7.0))

    def test_server_errors(self):
        """A 500 may come after Chinqit queued the SMS (no idempotency key: a resend may duplicate); 502 and 503
        prove it was not processed."""
        self.chinqit.fail_next('500')
        error = self.raised(base.OutcomeUnknownError, self.client.send, self.sms())
        self.assertEqual((error.code, error.http_status), ('server_error_unknown', 500))
        self.assertIs(error.retry_may_duplicate, True)
        for kind in ('502', '503'):
            self.chinqit.fail_next(kind)
            error = self.raised(base.RetryableError, self.client.send, self.sms())
            self.assertEqual((error.code, error.http_status), ('server_error', int(kind)))
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_unreadable_answers(self):
        """A 2xx that cannot be read: Chinqit most likely took the message, a resend would duplicate it."""
        self.chinqit.fail_next('malformed')
        error = self.raised(base.OutcomeUnknownError, self.client.send, self.sms())
        self.assertEqual(error.code, 'unreadable_answer')
        self.assertIs(error.retry_may_duplicate, False)
        self.replace_answer(200, {'success': True, 'queued': True})
        error = self.raised(base.OutcomeUnknownError, self.client.send, self.sms())
        self.assertEqual(error.code, 'no_reference')
        self.assertIs(error.retry_may_duplicate, False)

    def test_no_answer(self):
        self.chinqit.fail_next('timeout_after', delay=1.5)
        error = self.raised(base.OutcomeUnknownError, self.make_client(timeout=0.5).send, self.sms())
        self.assertEqual(error.code, 'no_answer')
        self.assertEqual(self.chinqit.sent_count(), 1)

    def test_no_status_endpoint(self):
        self.assertFalse(chinqit.ChinqitClient.supports_status)
        self.assertTrue(wap.WapClient.supports_status)
        with self.assertRaisesRegex(NotImplementedError, 'no status endpoint'):
            self.client.get_status('550e8400-e29b-41d4-a716-446655440000')
        self.assertEqual(self.chinqit.requests, [])


class TestChinqitConnection(ChinqitCase):
    def test_ok_sends_nothing(self):
        result = self.client.test_connection()
        self.assertEqual(result, 'Connection OK: Chinqit accepted the API key.')
        self.assertEqual((result.code, result.params), ('connection_ok', {'provider': 'Chinqit',
                                                                          'url': self.client.base_url}))
        (request,) = self.chinqit.requests
        self.assertEqual((request['path'], request['json'], request['response_status']), ('/messages/send', {}, 400))
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_refused_key(self):
        error = self.raised(base.AccountError, self.make_client(client_class=HeaderStrippingClient).test_connection)
        self.assertEqual((error.code, error.http_status), ('missing_api_key', 401))
        error = self.raised(base.AccountError, self.make_client(api_key='someone-else').test_connection)
        self.assertEqual((error.code, error.http_status), ('credentials', 403))
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_wrong_url(self):
        for base_url in (self.sim.url + '/nothing', self.sim.base_url('chinqit') + '/v1'):
            with self.subTest(base_url=base_url):
                error = self.raised(base.AccountError, self.make_client(base_url=base_url).test_connection)
                self.assertEqual((error.code, error.params), ('not_provider_url', {'provider': 'Chinqit',
                                                                                   'url': base_url}))
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_answers_that_are_not_chinqits(self):
        """Only a 400 (or a refusal with 200) in Chinqit's envelope proves the key was accepted."""
        for status, payload in ((400, {'error': 'bad request'}), (200, {'ok': True}),
                                (404, {'success': False, 'message': 'Not found'})):
            with self.subTest(status=status), patch.object(self.chinqit, 'handle',
                                                           return_value=json_response(status, payload)):
                error = self.raised(base.AccountError, self.client.test_connection)
                self.assertEqual((error.code, error.http_status), ('not_provider_url', status))
        with patch.object(self.chinqit, 'handle', return_value=json_response(200, {'success': False,
                                                                                 'message': 'Validation failed'})):
            self.assertEqual(self.client.test_connection().code, 'connection_ok')

    def test_server_error_is_retryable(self):
        self.chinqit.fail_next('500')  # an empty request cannot have sent anything
        self.assertEqual(self.raised(base.RetryableError, self.client.test_connection).code, 'server_error')


class TestChinqitOtp(ChinqitCase):
    def test_send_and_verify(self):
        result = self.client.send_otp('38089336')
        self.assertEqual(self.chinqit.requests[0]['json'], {'phoneNumber': NUMBER, 'channel': 'sms', 'language': 'fr'})
        self.assertEqual(result.expires_in, 600)
        sent = self.chinqit.messages[result.message_id]
        self.assertEqual((sent['phone'], sent['channel']), (NUMBER, 'sms'))
        code = self.chinqit.last_otp(NUMBER)
        self.assertRegex(code, r'^[0-9]{6}$')
        self.assertIn(code, sent['message'])
        verified = self.client.verify_otp(NUMBER, code)
        self.assertEqual(verified, OtpVerifyResult(True, None, 'OTP verified successfully'))
        self.assertEqual(self.chinqit.requests[1]['json'], {'phoneNumber': NUMBER, 'otp': code, 'channel': 'sms'})
        # consumed: the same code again is an unknown OTP
        self.assertEqual(self.client.verify_otp(NUMBER, code),
                         OtpVerifyResult(False, None, 'OTP expired or not found'))

    def test_wrong_codes(self):
        self.client.send_otp(NUMBER)
        wrong = '000000' if self.chinqit.last_otp(NUMBER) != '000000' else '111111'
        answers = [self.client.verify_otp(NUMBER, wrong) for _attempt in range(4)]
        self.assertEqual([(a.verified, a.retries_left) for a in answers], [(False, 2), (False, 1), (False, 0),
                                                                            (False, None)])
        self.assertEqual([a.message for a in answers[:3]], ['Invalid OTP'] * 3)
        self.assertIsNone(self.chinqit.last_otp(NUMBER))  # gone after the third wrong code

    def test_expiry(self):
        self.client.send_otp(NUMBER)
        code = self.chinqit.last_otp(NUMBER)
        self.chinqit.advance_clock(599)
        self.chinqit.expire(NUMBER)
        result = self.client.verify_otp(NUMBER, code)
        self.assertEqual((result.verified, result.retries_left, result.message),
                         (False, None, 'OTP expired or not found'))

    def test_expiry_by_the_clock(self):
        self.client.send_otp(NUMBER)
        code = self.chinqit.last_otp(NUMBER)
        self.chinqit.advance_clock(601)
        self.assertFalse(self.client.verify_otp(NUMBER, code).verified)

    def test_language(self):
        for lang, sent in (('fr_FR', 'fr'), ('ar_001', 'ar'), ('en_US', 'en'), ('de_DE', 'fr'), (None, 'fr'),
                           ('en', 'en'), ('ar', 'ar')):
            with self.subTest(lang=lang):
                self.sim.reset()
                message_id = self.client.send_otp(NUMBER, language=lang).message_id
                self.assertEqual(self.chinqit.requests[0]['json']['language'], sent)
                first_words = {'fr': 'Votre code', 'en': 'Your verification code', 'ar': 'رمز التحقق'}[sent]
                self.assertTrue(self.chinqit.messages[message_id]['message'].startswith(first_words))

    def test_app_hash(self):
        message_id = self.client.send_otp(NUMBER, app_hash='ABC123XYZ45').message_id
        self.assertEqual(self.chinqit.requests[0]['json']['hash'], 'ABC123XYZ45')
        self.assertTrue(self.chinqit.messages[message_id]['message'].endswith('\nABC123XYZ45'))
        self.sim.reset()
        for app_hash, channel in (('ABC123XYZ4', 'sms'), ('ABC123XYZ456', 'sms'), ('ABC123XYZ4!', 'sms'),
                                  ('ABC123XYZ45', 'whatsapp')):
            with self.subTest(app_hash=app_hash, channel=channel):
                error = self.raised(base.PermanentError, self.client.send_otp, NUMBER, channel=channel,
                                    app_hash=app_hash)
                self.assertEqual(error.code, 'bad_app_hash')
        self.assertEqual(self.chinqit.requests, [])

    def test_refused_before_any_request(self):
        cases = [
            (self.client.send_otp, (NUMBER,), {'channel': 'email'}, 'channel_not_supported'),
            (self.client.send_otp, ('+237690000001',), {}, 'not_mauritanian_recipient'),
            (self.client.verify_otp, (NUMBER, '12345'), {}, 'bad_otp_format'),
            (self.client.verify_otp, (NUMBER, '1234567'), {}, 'bad_otp_format'),
            (self.client.verify_otp, (NUMBER, '12345a'), {}, 'bad_otp_format'),
            (self.client.verify_otp, (NUMBER, None), {}, 'bad_otp_format'),
            (self.client.verify_otp, (NUMBER, '123456'), {'channel': 'telegram'}, 'channel_not_supported'),
        ]
        for call, args, kwargs, code in cases:
            with self.subTest(call=call.__name__, args=args, kwargs=kwargs):
                self.assertEqual(self.raised(base.PermanentError, call, *args, **kwargs).code, code)
        self.assertEqual(self.chinqit.requests, [])

    def test_rate_limit_per_number(self):
        for _attempt in range(3):
            self.client.send_otp(NUMBER)
        error = self.raised(base.RetryableError, self.client.send_otp, NUMBER)
        self.assertEqual((error.code, error.http_status), ('rate_limited', 429))
        self.assertTrue(1 <= error.retry_after <= 60)
        self.client.send_otp('+22227635642')  # another number has its own limits
        self.chinqit.advance_clock(61)
        self.client.send_otp(NUMBER)
        self.assertEqual(self.chinqit.sent_count(), 5)

    def test_whatsapp(self):
        self.client.send_otp(NUMBER, channel='whatsapp')
        code = self.chinqit.last_otp(NUMBER, channel='whatsapp')
        self.assertIsNone(self.chinqit.last_otp(NUMBER))
        self.assertTrue(self.client.verify_otp(NUMBER, code, channel='whatsapp').verified)
        self.chinqit.whatsapp_down = True
        error = self.raised(base.RetryableError, self.client.send_otp, NUMBER, channel='whatsapp')
        self.assertEqual((error.code, error.http_status), ('whatsapp_provider_error', 502))
        self.assertEqual(error.params['provider_message'], 'WhatsApp provider error')
        self.client.send_otp(NUMBER)  # SMS still works
        self.chinqit.fail_next('502')  # a gateway's page, on the SMS channel: retried too
        self.assertEqual(self.raised(base.RetryableError, self.client.send_otp, NUMBER).code, 'server_error')

    def test_server_errors(self):
        """A 500 may come after Chinqit sent the code, or counted the attempt: the OTP engine decides."""
        self.chinqit.fail_next('500')
        error = self.raised(base.OutcomeUnknownError, self.client.send_otp, NUMBER)
        self.assertIs(error.retry_may_duplicate, True)
        self.chinqit.fail_next('500')
        error = self.raised(base.OutcomeUnknownError, self.client.verify_otp, NUMBER, '123456')
        self.assertIs(error.retry_may_duplicate, True)
        self.chinqit.fail_next('429', retry_after=30)
        self.assertEqual(self.raised(base.RetryableError, self.client.verify_otp, NUMBER, '123456').retry_after, 30)

    def test_verify_answers_the_document_leaves_open(self):
        self.replace_answer(200, {'success': False, 'message': 'Invalid OTP', 'retriesLeft': 2})
        self.assertEqual(self.client.verify_otp(NUMBER, '123456'), OtpVerifyResult(False, 2, 'Invalid OTP'))
        self.replace_answer(400, {'success': False, 'message': 'Validation failed', 'errors': ['otp is required']})
        error = self.raised(base.PermanentError, self.client.verify_otp, NUMBER, '123456')
        self.assertEqual((error.code, error.params['provider_message']),
                         ('refused', 'Validation failed: otp is required'))
        self.replace_answer(200, {'success': True})
        self.assertEqual(self.raised(base.OutcomeUnknownError, self.client.verify_otp, NUMBER, '123456').code,
                         'unreadable_answer')

    def test_unreadable_otp_send(self):
        self.chinqit.fail_next('malformed')
        error = self.raised(base.OutcomeUnknownError, self.client.send_otp, NUMBER)
        self.assertIs(error.retry_may_duplicate, False)

    def test_refused_with_http_200(self):
        self.chinqit.refuse_with_200 = 'Insufficient balance'
        error = self.raised(base.PermanentError, self.client.send_otp, NUMBER)
        self.assertEqual((error.code, error.http_status, error.params['provider_message']),
                         ('refused', 200, 'Insufficient balance'))


class TestChinqitSimulatorContract(ChinqitCase):
    """The simulator refuses what the document says Chinqit refuses (raw requests, no client)."""

    def post(self, path, payload, api_key=DEMO_API_KEY, **kwargs):
        headers = {'X-API-Key': api_key} if api_key else {}
        response = requests.post(self.sim.base_url('chinqit') + path, json=payload, headers=headers, timeout=5,
                                 **kwargs)
        return response.status_code, response.json()

    def test_document_number_examples(self):
        for number in ('+22238089336', '22238089336', '38089336'):
            with self.subTest(number=number):
                status, body = self.post('/messages/send', {'message': 'Bonjour', 'phoneNumber': number})
                self.assertEqual((status, body['success'], body['queued']), (200, True, True))
        self.assertEqual({m['phone'] for m in self.chinqit.messages.values()}, {NUMBER})
        refused = {
            '12345678': 'Phone number must start with 2, 3 or 4',
            '+222 27 63 56 42': 'Phone number must not contain spaces or dashes',
            '27-63-56-42': 'Phone number must not contain spaces or dashes',
            '+1234567890': 'Not a valid Mauritanian phone number',
            '3808933': 'Invalid phone number length or format',
            '0022238089336': 'Invalid phone number length or format',
        }
        for number, reason in refused.items():
            with self.subTest(number=number):
                self.assertEqual(self.post('/messages/send', {'message': 'Bonjour', 'phoneNumber': number}),
                                 (400, {'success': False, 'message': 'Validation failed', 'errors': [reason]}))
        self.assertEqual(self.chinqit.sent_count(), 3)

    def test_authentication(self):
        good = {'message': 'Bonjour', 'phoneNumber': NUMBER}
        self.assertEqual(self.post('/messages/send', good, api_key=None),
                         (401, {'success': False, 'message': 'API key is required'}))
        self.assertEqual(self.post('/messages/send', good, api_key='someone-else'),
                         (403, {'success': False, 'message': 'Invalid API key'}))

    def test_malformed_requests(self):
        self.assertEqual(self.post('/messages/send', {}), (400, {
            'success': False, 'message': 'Validation failed',
            'errors': ['message is required', 'phoneNumber is required']}))
        self.assertEqual(self.post('/messages/send', {'phoneNumber': NUMBER})[1]['errors'], ['message is required'])
        bad_otp_sends = [
            ({'language': 'de'}, 'language must be one of: fr, en, ar'),
            ({'channel': 'email'}, 'channel must be one of: sms, whatsapp'),
            ({'hash': 'ABC123XYZ4'}, 'hash must be 11 characters'),
            ({'hash': 'ABC123XYZ45', 'channel': 'whatsapp'}, 'hash is only for the sms channel'),
        ]
        for change, reason in bad_otp_sends:
            with self.subTest(change=change):
                self.assertEqual(self.post('/otp/send', {'phoneNumber': NUMBER, **change}),
                                 (400, {'success': False, 'message': 'Validation failed', 'errors': [reason]}))
        self.assertEqual(self.post('/otp/verify', {'phoneNumber': NUMBER, 'otp': '12345'})[1]['errors'],
                         ['otp must be a 6-digit code'])
        response = requests.post(self.sim.base_url('chinqit') + '/messages/send', data=b'{not json',
                                 headers={'X-API-Key': DEMO_API_KEY, 'Content-Type': 'application/json'}, timeout=5)
        self.assertEqual((response.status_code, response.json()['success']), (400, False))
        self.assertEqual(self.chinqit.sent_count(), 0)

    def test_unknown_route_is_not_in_the_envelope(self):
        response = requests.get(self.sim.base_url('chinqit') + '/messages/send', timeout=5)
        self.assertEqual(response.status_code, 404)
        self.assertIn('Cannot GET /messages/send', response.text)
        self.assertEqual(requests.post(self.sim.base_url('chinqit') + '/sms', timeout=5).status_code, 404)

    def test_shared_faults_answer_in_the_envelope(self):
        self.chinqit.fail_next('500')
        self.chinqit.fail_next('429', retry_after=5)
        good = {'message': 'Bonjour', 'phoneNumber': NUMBER}
        self.assertEqual(self.post('/messages/send', good),
                         (500, {'success': False, 'message': 'simulated_server_error', 'errors': []}))
        response = requests.post(self.sim.base_url('chinqit') + '/messages/send', json=good,
                                 headers={'X-API-Key': DEMO_API_KEY}, timeout=5)
        self.assertEqual((response.status_code, response.headers['Retry-After'], response.json()['success']),
                         (429, '5', False))

    def test_otp_rate_limits(self):
        """3 a minute, 10 an hour, 20 a day, per number and API key; Retry-After says when the next one passes."""
        def send():
            response = requests.post(self.sim.base_url('chinqit') + '/otp/send', json={'phoneNumber': NUMBER},
                                     headers={'X-API-Key': DEMO_API_KEY}, timeout=5)
            return response.status_code, response.headers.get('Retry-After')

        statuses = []
        for _minute in range(4):
            statuses.append([send()[0] for _attempt in range(4)])
            self.chinqit.advance_clock(60)
        self.assertEqual(statuses, [[200, 200, 200, 429]] * 3 + [[200, 429, 429, 429]])  # 10 in the hour
        status, retry_after = send()
        self.assertEqual(status, 429)
        self.assertGreater(int(retry_after), 3000)  # the first of the hour leaves the window in ~56 minutes
        accepted = 10
        for _hour in range(4):  # a fresh hour each time: 3 a minute pass, until the 20th of the day
            self.chinqit.advance_clock(3600)
            accepted += sum(send()[0] == 200 for _attempt in range(3))
        self.assertEqual(accepted, 20)
        status, retry_after = send()
        self.assertEqual(status, 429)
        self.assertGreater(int(retry_after), 70000)  # the day's first leaves the window ~20 hours later
        self.assertEqual(sum(1 for m in self.chinqit.messages.values() if m['kind'] == 'otp'), 20)
