# A command-line program: it talks to its user on stdout.
# pylint: disable=print-used
"""Serve the provider simulators with demo data until Ctrl-C.

    cd tests && python -m simulator --port 8079
    python tests/simulator/__main__.py --port 8079
"""

import argparse
import os
import sys

if __package__:
    from . import intech, wazzup
    from .chinqit import DEMO_API_KEY as CHINQIT_DEMO_API_KEY
    from .chinqit import seed_demo as seed_chinqit
    from .server import Simulator
    from .wabek import DEMO_API_KEY as WABEK_DEMO_API_KEY
    from .wabek import seed_demo as seed_wabek
    from .wap import DEMO_API_KEY, DEMO_INVOICE_AUTOMATION, DEMO_OTP_AUTOMATION, DEMO_SECRET_B64, seed_demo
else:  # run as a script: make the `simulator` package importable from its parent directory
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from simulator import intech, wazzup
    from simulator.chinqit import DEMO_API_KEY as CHINQIT_DEMO_API_KEY
    from simulator.chinqit import seed_demo as seed_chinqit
    from simulator.server import Simulator
    from simulator.wabek import DEMO_API_KEY as WABEK_DEMO_API_KEY
    from simulator.wabek import seed_demo as seed_wabek
    from simulator.wap import DEMO_API_KEY, DEMO_INVOICE_AUTOMATION, DEMO_OTP_AUTOMATION, DEMO_SECRET_B64, seed_demo

DEMO_PROGRESS_SECONDS = (1, 30, 8 * 60)  # a WAP message is sent, delivered, read this long after it was accepted


def main(argv=None):
    parser = argparse.ArgumentParser(prog='simulator', description='notify_rules provider simulator')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8079)
    args = parser.parse_args(argv)
    sim = Simulator(port=args.port, host=args.host)
    seed_demo(sim.wap)
    # A pace a person can follow in `make run` (the tests set their own). The status poller first asks about a
    # message about a minute after sending it (POLL_FIRST_DELAY_SECONDS): delivered at 30 s, it shows Delivered.
    # It asks again about a delivered message an hour later at the earliest (POLL_DELIVERED_INTERVAL) and finds it
    # read (read at 8 minutes: any time under the hour shows the same). With the default (1, 2, 3 s) the first
    # check found the message read already, and Delivered was never seen.
    sim.wap.progress_seconds = DEMO_PROGRESS_SECONDS
    seed_chinqit(sim.chinqit)
    seed_wabek(sim.wabek)
    intech.seed_demo(sim.intech).auto_ipn = intech.DEMO_AUTO_IPN_SECONDS  # its IPN follows by itself
    wazzup.seed_demo(sim.wazzup).status_progress = wazzup.DEMO_STATUS_SECONDS  # sent, delivered, read webhooks
    sim.start()
    print(f'Simulator listening on {sim.url}')
    print(f'  WAP base URL: {sim.base_url("wap")}  api_key={DEMO_API_KEY}  api_secret={DEMO_SECRET_B64}')
    print(f'  WAP automations: {DEMO_OTP_AUTOMATION} (code_otp), '
          f'{DEMO_INVOICE_AUTOMATION} (customer_name, invoice_number, amount_due)')
    print('  WAP messages: sent, delivered, read %s s after acceptance' % ', '.join(map(str, DEMO_PROGRESS_SECONDS)))
    print(f'  Chinqit base URL: {sim.base_url("chinqit")}  api_key={CHINQIT_DEMO_API_KEY}')
    print(f'  Wabek base URL: {sim.base_url("wabek")}  api_key={WABEK_DEMO_API_KEY}')
    print(f'  Intech base URL: {sim.base_url("intech")}  apiKey={intech.DEMO_API_KEY}  '
          f'HMAC secret={intech.DEMO_HMAC_SECRET}  Secretkey={intech.DEMO_SECRET_KEY}  '
          f'(IPN {intech.DEMO_AUTO_IPN_SECONDS:g} s after each operation)')
    print(f'  Wazzup base URL: {sim.base_url("wazzup")}  developer key={wazzup.DEMO_DEVELOPER_KEY}  '
          f'crmCode={wazzup.DEMO_CRM_CODE}  secret={wazzup.DEMO_SECRET}  customer apiKey={wazzup.DEMO_API_KEY}')
    try:
        sim._thread.join()
    except KeyboardInterrupt:
        print('Stopping.')
    finally:
        sim.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
