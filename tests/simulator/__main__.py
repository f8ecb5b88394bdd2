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
    from .chinqit import DEMO_API_KEY as CHINQIT_DEMO_API_KEY
    from .chinqit import seed_demo as seed_chinqit
    from .server import Simulator
    from .wap import DEMO_API_KEY, DEMO_INVOICE_AUTOMATION, DEMO_OTP_AUTOMATION, DEMO_SECRET_B64, seed_demo
else:  # run as a script: make the `simulator` package importable from its parent directory
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from simulator.chinqit import DEMO_API_KEY as CHINQIT_DEMO_API_KEY
    from simulator.chinqit import seed_demo as seed_chinqit
    from simulator.server import Simulator
    from simulator.wap import DEMO_API_KEY, DEMO_INVOICE_AUTOMATION, DEMO_OTP_AUTOMATION, DEMO_SECRET_B64, seed_demo


def main(argv=None):
    parser = argparse.ArgumentParser(prog='simulator', description='notify_rules provider simulator')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8079)
    args = parser.parse_args(argv)
    sim = Simulator(port=args.port, host=args.host)
    seed_demo(sim.wap)
    seed_chinqit(sim.chinqit)
    sim.start()
    print(f'Simulator listening on {sim.url}')
    print(f'  WAP base URL: {sim.base_url("wap")}  api_key={DEMO_API_KEY}  api_secret={DEMO_SECRET_B64}')
    print(f'  WAP automations: {DEMO_OTP_AUTOMATION} (code_otp), '
          f'{DEMO_INVOICE_AUTOMATION} (customer_name, invoice_number, amount_due)')
    print(f'  Chinqit base URL: {sim.base_url("chinqit")}  api_key={CHINQIT_DEMO_API_KEY}')
    try:
        sim._thread.join()
    except KeyboardInterrupt:
        print('Stopping.')
    finally:
        sim.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
