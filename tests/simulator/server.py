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

# 500/503: the provider's own error body; 502/504: a gateway's HTML page; 429: rate limited (Retry-After if given);
# malformed: a 200 that is not JSON; timeout_before/after: wait `delay` before/after processing the request;
# reset_reused: read the request, do not process it, reset the connection without a byte of answer (what a client
# meets on a keep-alive connection the server dropped).
# processed_500: process the request, then answer 500 (the answer of work that was done is lost).
FAULT_KINDS = ('500', '502', '503', '504', '429', 'malformed', 'timeout_before', 'timeout_after', 'reset_reused',
               'processed_500')
GATEWAY_PAGES = {502: 'Bad Gateway', 504: 'Gateway Timeout'}


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
        if kind == 'reset_reused':
            return None, True
        if kind in ('500', '503'):
            answer = self.error_body(int(kind), 'simulated_server_error')
        elif kind in ('502', '504'):
            status = int(kind)
            page = f'<html><body><h1>{status} {GATEWAY_PAGES[status]}</h1></body></html>'
            answer = (status, {'Content-Type': 'text/html'}, page.encode())
        elif kind == '429':
            status, resp_headers, resp_body = self.error_body(429, 'rate_limit_exceeded')
            if retry_after is not None:
                resp_headers['Retry-After'] = str(retry_after)
            answer = (status, resp_headers, resp_body)
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

class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    timeout = 60  # idle keep-alive connections end eventually

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr access log
        pass

    def _serve(self):
        split = urlsplit(self.path)
        prefix, _, rest = split.path.lstrip('/').partition('/')
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
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
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (timeout_after)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class Simulator:
    """Loopback server hosting provider simulators: `with Simulator() as sim: sim.base_url('wap')`."""

    def __init__(self, port=0, host='127.0.0.1', providers=None):
        if providers is None:
            from .chinqit import ChinqitSimulator  # late imports: the providers build on this module
            from .intech import IntechSimulator
            from .wabek import WabekSimulator
            from .wap import WapSimulator
            from .wazzup import WazzupSimulator

            providers = [WapSimulator(), ChinqitSimulator(), WabekSimulator(), IntechSimulator(), WazzupSimulator()]
        self.providers = {provider.name: provider for provider in providers}
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
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
