"""One loopback HTTP server for every provider simulator of the project.

Providers are mounted under a path prefix (`/wap/...`), keep a request log, and share fault injection so a test
can make any provider time out, fail or answer garbage exactly when it wants to.
"""

import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# What a provider (or what stands between it and us) can do wrong; the log entry of the request says whether the
# provider processed it (`processed`) and what was answered (`response_status`, None when nothing was).
# - 500/503: the provider's own error body; 502/504: a gateway's HTML page. Not processed.
# - processed_500: process the request, then answer 500 (the answer of work that was done is lost).
# - html_200 / html_500: a proxy's HTML error page (long: a client must not show it whole) with 200 / 500. Not
#   processed.
# - 429: rate limited in the provider's format, Retry-After when `retry_after` is given; 429_plain: a rate limiter's
#   plain-text 429 without Retry-After, whatever `retry_after` says. Not processed.
# - malformed: a 200 announced as JSON whose body is not JSON. Not processed.
# - timeout_before: wait `delay`, then answer 500 and close, without processing (a client whose timeout is shorter
#   than `delay` sees a read timeout: its request left, nothing was done). timeout_after: process, then wait `delay`
#   before the answer (the work was done, the answer comes too late).
# - reset: reset the connection (RST) without a byte of answer and without processing; reset_reused is the same,
#   named for what a client meets on a keep-alive connection the server dropped as idle. reset_after: process, then
#   reset without answering (the work was done, the answer is lost).
# - slow_body: process, send the status line and headers at once, then the body one byte every `delay` seconds
#   (1 s by default): a client whose read timeout is shorter gives up in the middle of the body.
FAULT_KINDS = ('500', '502', '503', '504', '429', 'malformed', 'timeout_before', 'timeout_after', 'reset_reused',
               'processed_500', 'reset', 'reset_after', 'html_200', 'html_500', '429_plain', 'slow_body')
GATEWAY_PAGES = {502: 'Bad Gateway', 504: 'Gateway Timeout'}
SLOW_BODY_DEFAULT_DELAY = 1.0
# A reverse proxy's error page, as long as real ones are: a client must show a sentence, not this.
PROXY_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Error | upstream unavailable</title>'
    '<style>body{font-family:sans-serif;margin:4em auto;max-width:40em;color:#333}h1{font-size:1.6em}'
    '.ray{color:#999;font-size:.8em}</style></head>\n<body><h1>Sorry, something went wrong.</h1>'
    '<p>The web server reported an error while contacting the upstream application. Please try again in a few '
    'minutes. If the problem persists, contact the site administrator and quote the reference below.</p>'
    '<p class="ray">Reference: 7f3c9a2e1b4d5f60 &middot; edge proxy &middot; simulated</p>' + '<!-- padding -->' * 40
    + '</body></html>\n'
)


class SlowBody(bytes):
    """An answer body that `write_body` sends one byte every `delay` seconds (the slow_body fault)."""

    def __new__(cls, payload, delay):
        body = super().__new__(cls, payload)
        body.delay = delay
        return body


def write_body(wfile, payload):
    """Write an answer body: at once, or trickling for a SlowBody (a client that gave up makes a write raise
    BrokenPipeError or ConnectionResetError, which ends the trickle)."""
    if not isinstance(payload, SlowBody):
        wfile.write(payload)
        return
    for index in range(len(payload)):
        time.sleep(payload.delay)
        wfile.write(payload[index:index + 1])


class Headers(dict):
    """Request headers with case-insensitive lookup."""

    def __init__(self, items=()):
        super().__init__((str(k).lower(), v) for k, v in dict(items).items())

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


def json_response(status, payload, headers=None):
    return status, {'Content-Type': 'application/json', **(headers or {})}, json.dumps(payload).encode()


class ProviderSimulator:
    """Base of a provider simulator: request log, reset, fault injection. Subclasses implement `handle`."""

    name = None

    def __init__(self):
        self.lock = threading.RLock()
        self.requests = []
        self._faults = deque()

    def reset(self):
        with self.lock:
            self.requests.clear()
            self._faults.clear()

    def fail_next(self, kind, count=1, retry_after=None, delay=None):
        """Make the next `count` requests misbehave; faults are consumed in the order they were queued."""
        if kind not in FAULT_KINDS:
            raise ValueError(f'unknown fault {kind!r}, expected one of {FAULT_KINDS}')
        with self.lock:
            self._faults.extend([(kind, retry_after, delay)] * count)

    def handle(self, method, path, query, headers, body):
        """Return (status, headers_dict, body_bytes) for one request; `path` is relative to the mount point."""
        raise NotImplementedError

    def error_body(self, status, reason):
        """Body of an error answer in the provider's own format."""
        return json_response(status, {'error': reason})

    def dispatch(self, method, path, query, headers, body):
        """Log the request, apply the next fault if any, else let the provider answer.

        Return (answer, close); answer None means: reset the connection without answering. The log entry says
        whether the provider processed the request (`processed`) and what it answered (`response_status`, None
        when nothing was).
        """
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        entry = {
            'method': method, 'path': path, 'query': query, 'headers': Headers(headers),
            'json': parsed, 'at': time.time(), 'response_status': None, 'processed': False,
        }
        with self.lock:
            self.requests.append(entry)
            kind, retry_after, delay = self._faults.popleft() if self._faults else (None, None, None)
        close = False
        if kind in ('reset', 'reset_reused'):
            return None, True
        if kind in ('500', '503'):
            answer = self.error_body(int(kind), 'simulated_server_error')
        elif kind in ('502', '504'):
            status = int(kind)
            page = f'<html><body><h1>{status} {GATEWAY_PAGES[status]}</h1></body></html>'
            answer = (status, {'Content-Type': 'text/html'}, page.encode())
        elif kind in ('html_200', 'html_500'):
            answer = (int(kind[5:]), {'Content-Type': 'text/html; charset=utf-8'}, PROXY_PAGE.encode())
        elif kind == '429':
            status, resp_headers, resp_body = self.error_body(429, 'rate_limit_exceeded')
            if retry_after is not None:
                resp_headers['Retry-After'] = str(retry_after)
            answer = (status, resp_headers, resp_body)
        elif kind == '429_plain':
            answer = (429, {'Content-Type': 'text/plain'}, b'Too Many Requests')
        elif kind == 'malformed':
            answer = (200, {'Content-Type': 'application/json'}, b'<html>upstream proxy says hello</html>')
        elif kind == 'timeout_before':
            time.sleep(delay or 0)
            answer, close = self.error_body(500, 'simulated_timeout'), True
        elif kind == 'processed_500':
            self.handle(method, path, query, entry['headers'], body)
            entry['processed'] = True
            answer = self.error_body(500, 'simulated_server_error')
        else:
            answer = self.handle(method, path, query, entry['headers'], body)
            entry['processed'] = True
            if kind == 'timeout_after':
                time.sleep(delay or 0)
            elif kind == 'reset_after':
                return None, True
            elif kind == 'slow_body':
                answer = (*answer[:2], SlowBody(answer[2], SLOW_BODY_DEFAULT_DELAY if delay is None else delay))
        entry['response_status'] = answer[0]
        return answer, close

    @staticmethod
    def send_callback(url, json_body, headers=None, timeout=10):
        """POST a JSON callback (webhook, IPN) to `url`; return (status, body_text)."""
        request = urllib.request.Request(
            url, data=json.dumps(json_body).encode(), method='POST',
            headers={'Content-Type': 'application/json', **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback/test URLs
                return response.status, response.read().decode(errors='replace')
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors='replace')



class SimulatedClock:
    """A provider clock that a test moves forward (code expiry, rate windows) instead of waiting; `reset` of the
    simulator sets `clock_offset` back to 0."""

    clock_offset = 0.0

    def now(self):
        return time.time() + self.clock_offset

    def advance_clock(self, seconds):
        self.clock_offset += seconds

class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: with two dispatchers of 20 connections each, connections waited
    # in the kernel long enough for a 10 s read timeout (bench/bench_dispatch.py). A provider's server has more.
    request_queue_size = 256
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    timeout = 60  # idle keep-alive connections end eventually
    # TCP_NODELAY, as a provider's web server (nginx's default) has: an answer's headers and body leave in two
    # writes, and with Nagle's algorithm the body waited for the client's delayed acknowledgement, 40 ms on Linux.
    # Every answer then came 40 ms late: a configured 20 ms latency measured 64 ms (bench/bench_dispatch.py).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr access log
        pass

    def _serve(self):
        split = urlsplit(self.path)
        prefix, _, rest = split.path.lstrip('/').partition('/')
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        time.sleep(self.server.simulator.latency)  # a provider's network and processing time (benches)
        provider = self.server.simulator.providers.get(prefix)
        if provider is None:
            answer, close = json_response(404, {'error': 'unknown_provider'}), False
        else:
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            answer, close = provider.dispatch(self.command, '/' + rest, query, dict(self.headers.items()), body)
        if answer is None:
            # SO_LINGER 0: close() sends RST at once instead of a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        status, headers, payload = answer
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header('Content-Length', str(len(payload)))
            if close:
                self.send_header('Connection', 'close')
                self.close_connection = True
            self.end_headers()
            write_body(self.wfile, payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (timeout_after)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class Simulator:
    """Loopback server hosting provider simulators: `with Simulator() as sim: sim.base_url('wap')`."""

    latency = 0.0  # seconds added before every answer, outside any provider's lock (bench_dispatch.py)

    def __init__(self, port=0, host='127.0.0.1', providers=None):
        if providers is None:
            from .chinqit import ChinqitSimulator  # late imports: the providers build on this module
            from .intech import IntechSimulator
            from .wabek import WabekSimulator
            from .wap import WapSimulator
            from .wazzup import WazzupSimulator

            providers = [WapSimulator(), ChinqitSimulator(), WabekSimulator(), IntechSimulator(), WazzupSimulator()]
        self.providers = {provider.name: provider for provider in providers}
        self.httpd = _Server((host, port), _Handler)
        self.httpd.simulator = self
        self._thread = None

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f'http://{host}:{port}'

    def base_url(self, name):
        self.provider(name)
        return f'{self.url}/{name}'

    def provider(self, name):
        try:
            return self.providers[name]
        except KeyError:
            raise KeyError(f'no simulator mounted for provider {name!r}') from None

    def __getattr__(self, name):
        providers = self.__dict__.get('providers') or {}
        if name in providers:
            return providers[name]
        raise AttributeError(name)

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, name='notify-simulator', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def reset(self):
        for provider in self.providers.values():
            provider.reset()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
