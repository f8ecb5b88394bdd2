"""Wazzup's pipelines (POST /v3/pipelines), which its automatic createContact / createDeal need: the simulator holds
the documented contract (at most 100 per request, ids and names of at most 100 characters, `stages` left out when
there are none: `stages: []` is an error), and the client sends them in batches of 100 without empty stages."""

from ..clients.base import PermanentError
from ..clients.wazzup import WazzupClient
from .simulator.wazzup import DEMO_API_KEY
from .test_simulator_wazzup import WazzupSimulatorCase


def pipeline(n, stages=None):
    item = {'id': str(n), 'name': f'Pipeline {n}'}
    if stages is not None:
        item['stages'] = stages
    return item


class TestWazzupPipelinesContract(WazzupSimulatorCase):
    def stored(self):
        return self.sim.account_of(DEMO_API_KEY)['pipelines']

    def test_pipelines_with_and_without_stages(self):
        items = [pipeline(1, [{'id': '11', 'name': 'Nouveau'}, {'id': 12, 'name': 'Gagné'}]), pipeline(2)]
        self.assertEqual(self.call('POST', 'pipelines', items).status_code, 200)
        self.assertEqual(self.stored(), {'1': items[0], '2': items[1]})
        self.assertEqual(self.call('GET', 'pipelines').json(), items)
        renamed = dict(items[1], name='Support')  # upsert by id
        self.assertEqual(self.call('POST', 'pipelines', [renamed]).status_code, 200)
        self.assertEqual((len(self.stored()), self.stored()['2']['name']), (2, 'Support'))

    def test_refusals(self):
        cases = [
            ([pipeline(1, [])], ['[0].stages']),  # the document: "stages: [] errors"
            ([pipeline(1, 'Nouveau')], ['[0].stages']),
            ([{'id': '1'}], ['[0].name']),
            ([{'name': 'No id'}], ['[0].id']),
            ([{'id': 'i' * 101, 'name': 'n' * 101}], ['[0].id', '[0].name']),
            ([pipeline(1, [{'id': '1', 'name': 's' * 101}, {'name': 'No id'}, 'stage'])],
             ['[0].stages[0].name', '[0].stages[1].id', '[0].stages[2]']),
            ([pipeline(1), 'not an object'], ['[1]']),
        ]
        for items, fields in cases:
            with self.subTest(items=str(items)[:80]):
                self.assertFields(self.call('POST', 'pipelines', items), 'VALIDATION_ERROR', fields)
                self.assertEqual(self.stored(), {})
        self.assertError(self.call('POST', 'pipelines', {'id': '1', 'name': 'x'}), 400, 'VALIDATION_ERROR')
        self.assertError(self.call('POST', 'pipelines', [pipeline(n) for n in range(101)]), 400,
                         'TOO_MANY_ENTITIES')
        self.assertEqual(self.stored(), {})
        self.assertEqual(self.call('POST', 'pipelines', [pipeline(n) for n in range(100)]).status_code, 200)
        self.assertEqual(len(self.stored()), 100)
        self.assertError(self.call('POST', 'pipelines', [pipeline(1)], key='unknown'), 401, 'unauthorized')
        self.assertEqual(self.call('DELETE', 'pipelines').status_code, 405)

    def test_client_sends_batches_of_one_hundred_without_empty_stages(self):
        client = WazzupClient(self.simulator.base_url('wazzup'), {'api_key': DEMO_API_KEY}, environment='sandbox',
                              timeout=5)
        items = [pipeline(n, [] if n % 2 else [{'id': f'{n}-1', 'name': 'Nouveau'}]) for n in range(250)]
        self.assertEqual(client.upload('pipelines', items), 3)
        requests_made = [r for r in self.sim.requests if r['path'] == '/v3/pipelines']
        self.assertEqual([len(r['json']) for r in requests_made], [100, 100, 50])
        self.assertTrue(all(r['response_status'] == 200 for r in requests_made))
        self.assertEqual(len(self.stored()), 250)
        self.assertNotIn('stages', self.stored()['1'])
        self.assertEqual(self.stored()['2']['stages'], [{'id': '2-1', 'name': 'Nouveau'}])
        self.assertEqual(items[1]['stages'], [], 'the caller\'s items are left as they were')
        with self.assertRaises(PermanentError) as refused:  # what Wazzup refuses is reported, not hidden
            client.upload('pipelines', [{'id': '1', 'name': 'n' * 101}])
        self.assertEqual(refused.exception.http_status, 400)
