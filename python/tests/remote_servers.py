"""Loopback servers for voxload's remote-store tests (S3, plain HTTP, fault injection).

Every server binds 127.0.0.1 on an ephemeral port, serves from daemon threads, starts when
constructed and has ``.url`` (``http://127.0.0.1:PORT``), ``.stop()`` (idempotent, prompt even with
hung connections) and context-manager use (``with HttpServer(d) as s: ...``).

* :class:`HttpServer` serves a folder read-only (GET/HEAD, byte ranges, ETag/304, 404s).
* :class:`FaultProxy` forwards to an upstream, adding latency and scheduled faults.
* :class:`S3Server` is moto in server mode behind a :class:`FaultProxy` (``.proxy``), optionally
  with IAM authentication so that a wrong secret key is rejected.

Each records what clients sent: ``requests()`` lists :class:`Request` ``(method, path, range,
status)`` tuples in arrival order (``path``: the target as sent, query included; ``range``: the
``Range`` header or None; ``status``: the HTTP status returned or, on a proxy, the fault applied).
A request is recorded *before* its response is written, so a client holding the answer sees the
record. ``reset_requests()`` clears the log; ``count(method, path, status)`` counts matches
(``path`` compared with the target's path part, query excluded).

The servers run in the test process: code under test that blocks while holding the GIL (a Rust
call that does not release it) stalls them; release the GIL around I/O or use a child process.
"""

import collections
import email.utils
import http.client
import json
import logging
import os
import re
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

Request = collections.namedtuple("Request", "method path range status")
FAULT_KINDS = ("503", "drop", "truncate", "hang")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
               "upgrade", "expect"}
_S3_503 = b"<Error><Code>ServiceUnavailable</Code><Message>injected fault</Message></Error>"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (binding port 0 directly is safer)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _HTTPServer(ThreadingHTTPServer):
    """Threaded server whose threads never block shutdown and whose connections are tracked."""

    daemon_threads, block_on_close, allow_reuse_address = True, False, True

    def __init__(self, owner, handler):
        self.owner, self.connections, self.conn_lock = owner, set(), threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request, client_address):
        """Stay quiet: clients of these servers drop connections on purpose."""

    def process_request(self, request, client_address):
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def shutdown_connections(self):
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler base: records requests, logs nothing."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after this

    def log_message(self, format, *args):
        pass

    def record(self, status):
        self.server.owner._record(Request(self.command, self.path, self.headers.get("Range"), status))

    def reply(self, status, body=b"", headers=(), content_type="text/plain", record_as=None):
        """Record, then send a small complete response (no body for HEAD or 304)."""
        self.record(status if record_as is None else record_as)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status != 304:
            self.wfile.write(body)


class _ContextManager:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class _Recorded(_ContextManager):
    """Serving thread, stop() and the request log shared by HttpServer and FaultProxy."""

    def _start(self, handler):
        self._log, self._log_lock, self._stopping = [], threading.Lock(), threading.Event()
        self._httpd = _HTTPServer(self, handler)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()

    def _record(self, req):
        with self._log_lock:
            self._log.append(req)

    def requests(self):
        """The requests received so far, as :class:`Request` tuples in arrival order."""
        with self._log_lock:
            return list(self._log)

    def reset_requests(self):
        """Forget the requests received so far."""
        with self._log_lock:
            self._log.clear()

    def count(self, method=None, path=None, status=None):
        """How many recorded requests match every criterion given (path: query excluded)."""
        return sum(1 for r in self.requests()
                   if (method is None or r.method == method) and (status is None or r.status == status)
                   and (path is None or urllib.parse.urlsplit(r.path).path == path))

    def stop(self):
        """Stop serving and cut every open connection, hung ones too; safe to call twice."""
        if not self._stopping.is_set():
            self._stopping.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.shutdown_connections()
            self._thread.join(timeout=5)


_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def _parse_range(header, size):
    """(first, last) inclusive, "unsatisfiable", or None when the header is to be ignored."""
    m = _RANGE.fullmatch(header or "")
    if not m or m.groups() == ("", ""):
        return None  # absent, malformed or multi-range: the whole file is sent
    first, last = m.groups()
    if first == "":  # suffix: the last n bytes
        n = int(last)
        return "unsatisfiable" if n == 0 or size == 0 else (max(0, size - n), size - 1)
    if last and int(last) < int(first):
        return None
    if int(first) >= size:
        return "unsatisfiable"
    return int(first), min(int(last), size - 1) if last else size - 1


class _FileHandler(_Handler):
    def _refuse(self):
        self.close_connection = True  # an unread body may follow
        self.reply(405, b"read-only server\n", [("Allow", "GET, HEAD")])

    do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _resolve(self):
        raw = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if not parts or ".." in parts or raw.endswith("/") or "\\" in raw or "\0" in raw:
            return None
        root = self.server.owner.root
        full = os.path.realpath(os.path.join(root, *parts))
        return full if full.startswith(root + os.sep) and os.path.isfile(full) else None

    def do_GET(self):
        path = self._resolve()
        try:
            f = open(path, "rb") if path else None
        except OSError:
            f = None
        if f is None:
            return self.reply(404, b"not found\n")
        with f:
            st = os.fstat(f.fileno())
            size, etag = st.st_size, f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            meta = [("ETag", etag), ("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))]
            inm = self.headers.get("If-None-Match")
            if inm and any(t.strip() in ("*", etag, "W/" + etag) for t in inm.split(",")):
                return self.reply(304, headers=meta)
            rng = _parse_range(self.headers.get("Range"), size) if self.command == "GET" else None
            if rng == "unsatisfiable":
                return self.reply(416, b"range not satisfiable\n", [("Content-Range", f"bytes */{size}")])
            first, last = rng or (0, size - 1)
            self.record(206 if rng else 200)
            self.send_response(206 if rng else 200)
            meta += [("Accept-Ranges", "bytes"), ("Content-Type", "application/octet-stream"),
                     ("Content-Length", str(last - first + 1))]
            for k, v in meta + ([("Content-Range", f"bytes {first}-{last}/{size}")] if rng else []):
                self.send_header(k, v)
            self.end_headers()
            if self.command == "GET":
                f.seek(first)
                left = last - first + 1
                while left > 0 and (block := f.read(min(left, 1 << 20))):  # short if the file shrank
                    self.wfile.write(block)
                    left -= len(block)

    do_HEAD = do_GET


class HttpServer(_Recorded):
    """Read-only static file server for the files under ``root_dir`` (GET and HEAD).

    Serves ``Range: bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` with 206 and ``Content-Range``; 416
    with ``Content-Range: bytes */size`` when unsatisfiable. Malformed, reversed and multi-range
    headers are ignored (whole file, 200), as is Range on HEAD (RFC 9110: GET only). Sends
    ``Content-Length``, ``ETag`` (from size and mtime in ns) and ``Last-Modified``; a matching
    ``If-None-Match`` gets 304 (If-Modified-Since and If-Range are not implemented). Missing files,
    directories, paths ending in ``/`` and paths leaving the root get 404; other methods 405.
    """

    def __init__(self, root_dir):
        self.root = os.path.realpath(os.fspath(root_dir))
        self._start(_FileHandler)


class _ProxyHandler(_Handler):
    def _read_body(self):
        """The request body and whether it came chunked (then it is forwarded with a length)."""
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            n = int(self.headers.get("Content-Length") or 0)
            return (self.rfile.read(n) if n else b""), False
        parts = []
        while size := int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailers are dropped
        return b"".join(parts), True

    def _forward(self, body, dechunked):
        """Send the request upstream with the client's headers, Host included: (response, body)."""
        owner = self.server.owner
        drop = _HOP_BY_HOP | {t.strip().lower() for t in self.headers.get("Connection", "").split(",")}
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in drop]
        headers += [("Content-Length", str(len(body)))] if dechunked else []
        headers += [] if "Host" in self.headers else [("Host", owner.upstream_netloc)]
        # a new upstream connection per request: no stale keep-alive, no hidden retries
        conn = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port, timeout=owner.upstream_timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            conn.endheaders(body or None)
            resp = conn.getresponse()
            return resp, resp.read()
        finally:
            conn.close()

    def do_GET(self):
        owner = self.server.owner
        body, dechunked = self._read_body()
        if owner.latency_s > 0 and owner._stopping.wait(owner.latency_s):
            self.close_connection = True
            return
        kind = owner._next_fault(self.path)
        if kind == "503":
            return self.reply(503, _S3_503, [("Retry-After", "0")], "application/xml", record_as="503")
        if kind in ("drop", "hang"):
            self.record(kind)
            if kind == "hang":
                owner._stopping.wait()
            self.close_connection = True
            return
        try:
            resp, data = self._forward(body, dechunked)
        except (http.client.HTTPException, OSError) as e:
            return self.reply(502, f"upstream error: {e!r}\n".encode())
        bodiless = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in _HOP_BY_HOP and (bodiless or k.lower() != "content-length")]
        headers += [] if bodiless else [("Content-Length", str(len(data)))]
        self.record("truncate" if kind == "truncate" else resp.status)
        self.send_response_only(resp.status, resp.reason)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if kind == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif not bodiless:
            self.wfile.write(data)

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET


def _fault_kind(kind):
    if str(kind) not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {kind!r}")
    return str(kind)


class FaultProxy(_Recorded):
    """HTTP/1.1 reverse proxy to ``upstream_url`` with added latency and scheduled faults.

    Requests are forwarded unchanged (method, target, headers; the client's ``Host`` header is kept,
    so AWS SigV4 signatures still validate), each on a new upstream connection; clients may keep
    theirs alive. Responses go back with a recomputed ``Content-Length``. Settings may change at
    any time, from any thread:

    * ``latency_s``: seconds to wait before handling each request (faulted ones too);
    * ``fail_next(n, kind)``, ``plan([kind or None, ...])``: faults for the next requests, in order;
    * ``fail_every(k, kind)``: every k-th request, counted from the call, gets the fault;
    * ``fail_first_of_every(k, kind)``: the first request for every k-th new target gets the
      fault, later ones for it pass (so one retry always gets through, however the client's
      concurrent requests interleave);
    * ``clear_faults()``; ``path_contains=`` limits a schedule to targets containing that text.

    Fault kinds: ``"503"`` (503 with ``Retry-After: 0`` and an S3-style XML body; the upstream is not
    contacted), ``"drop"`` (connection closed without a response), ``"truncate"`` (the upstream's
    status and headers with the real ``Content-Length``, half the body, then close), ``"hang"`` (no
    answer until ``stop()``). Recorded status: the upstream's, 502 when the upstream failed, or the
    fault's name (``"503"`` is a string, unlike an upstream 503).
    """

    def __init__(self, upstream_url, latency_s=0.0, upstream_timeout=30.0):
        u = urllib.parse.urlsplit(upstream_url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"need an http:// upstream URL, got {upstream_url!r}")
        self.upstream_host, self.upstream_port, self.upstream_netloc = u.hostname, u.port or 80, u.netloc
        self.upstream_timeout, self.latency_s = upstream_timeout, latency_s
        self._fault_lock = threading.Lock()
        self._plan = []  # [kind or None, path_contains or None], consumed front to back
        self._every = None  # [k, kind, path_contains, matching requests seen]
        self._first_of = None  # [k, kind, set of targets seen]
        self._start(_ProxyHandler)

    def plan(self, kinds, path_contains=None):
        """Append one entry per coming (matching) request: a fault kind, or None to pass it."""
        entries = [(None if k is None else _fault_kind(k), path_contains) for k in kinds]
        with self._fault_lock:
            self._plan.extend(entries)

    def fail_next(self, n, kind, path_contains=None):
        """Give the next ``n`` (matching) requests the fault ``kind``."""
        self.plan([kind] * n, path_contains)

    def fail_every(self, k, kind, path_contains=None):
        """Give every ``k``-th (matching) request from now on the fault ``kind`` (replaces the last)."""
        if k < 1:
            raise ValueError("k must be >= 1")
        with self._fault_lock:
            self._every = [k, _fault_kind(kind), path_contains, 0]

    def fail_first_of_every(self, k, kind):
        """Fault the first request for every ``k``-th target not seen before (replaces the last)."""
        if k < 1:
            raise ValueError("k must be >= 1")
        with self._fault_lock:
            self._first_of = [k, _fault_kind(kind), set()]

    def clear_faults(self):
        """Drop every scheduled fault (latency stays)."""
        with self._fault_lock:
            self._plan.clear()
            self._every = None
            self._first_of = None

    def _next_fault(self, target):
        with self._fault_lock:
            for i, (kind, pc) in enumerate(self._plan):
                if pc is None or pc in target:
                    del self._plan[i]
                    return kind
            first = self._first_of
            if first and target not in first[2]:
                first[2].add(target)
                return first[1] if len(first[2]) % first[0] == 0 else None
            ev = self._every
            if ev and (ev[2] is None or ev[2] in target):
                ev[3] += 1
                return ev[1] if ev[3] % ev[0] == 0 else None
            return None


class S3Server(_ContextManager):
    """moto's S3 in server mode, reached through a counting :class:`FaultProxy` at ``.url``.

    ``.moto_url`` is moto itself (not counted, no faults); ``.proxy`` takes latency and faults, and
    ``requests()``, ``reset_requests()``, ``count()`` are its. moto keeps its state in process
    globals, so one S3Server at a time may run in a process; each starts from an empty moto.

    ``auth=True`` creates an IAM user with an access key and an ``s3:*`` policy, then sets moto's
    ``INITIAL_NO_AUTH_ACTION_COUNT`` to 0 (``POST /moto-api/reset-auth``): every request must then
    be signed with that key. A wrong secret gets 403 SignatureDoesNotMatch, an unknown key 403
    InvalidAccessKeyId, an unsigned request 403; ``stop()`` restores the previous setting. Without
    auth moto takes any credentials (``testing``/``testing`` are used).
    """

    _active_lock, _active = threading.Lock(), False

    def __init__(self, auth=False, region="us-east-1"):
        from moto.server import ThreadedMotoServer

        with S3Server._active_lock:
            if S3Server._active:
                raise RuntimeError("another S3Server is running in this process (moto state is global)")
            S3Server._active = True
        self.auth, self.region, self.proxy, self._previous_auth = auth, region, None, None
        self.access_key_id = self.secret_access_key = "testing"
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        try:
            self._moto.start()
            self.moto_url = "http://%s:%d" % self._moto.get_host_and_port()
            self._moto_api("reset", b"")
            if auth:
                self._enable_auth()
            self.proxy = FaultProxy(self.moto_url)
        except BaseException:
            self.stop()
            raise
        self.url = self.proxy.url

    requests = property(lambda self: self.proxy.requests, doc="The proxy's requests() (``.url``).")
    reset_requests = property(lambda self: self.proxy.reset_requests, doc="The proxy's reset_requests().")
    count = property(lambda self: self.proxy.count, doc="The proxy's count().")

    def _moto_api(self, name, data):
        conn = http.client.HTTPConnection(*self._moto.get_host_and_port(), timeout=10)
        try:  # with a form content type moto does not see the body (500), hence text/plain
            conn.request("POST", f"/moto-api/{name}", body=data, headers={"Content-Type": "text/plain"})
            resp = conn.getresponse()
            text = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"moto-api/{name}: {resp.status} {text[:200]!r}")
            return json.loads(text or b"{}")
        finally:
            conn.close()

    def _enable_auth(self):
        iam = self.client(endpoint_url=self.moto_url, service="iam")
        iam.create_user(UserName="voxload-test")
        key = iam.create_access_key(UserName="voxload-test")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="voxload-test", PolicyName="s3-all", PolicyDocument=json.dumps(policy))
        self.access_key_id, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        self._previous_auth = self._moto_api("reset-auth", b"0")["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]

    def _secret(self, wrong_secret):
        return self.secret_access_key[::-1] + "x" if wrong_secret else self.secret_access_key

    def client(self, wrong_secret=False, endpoint_url=None, max_attempts=1, timeout=10.0, service="s3"):
        """A boto3 client (path-style S3 by default) for ``endpoint_url`` (default ``.url``), with
        this server's key; ``max_attempts`` counts the first try (1: no retries)."""
        config = Config(connect_timeout=timeout, read_timeout=timeout, s3={"addressing_style": "path"},
                        retries={"mode": "standard", "total_max_attempts": max_attempts})
        return boto3.client(service, endpoint_url=endpoint_url or self.url, region_name=self.region,
                            aws_access_key_id=self.access_key_id,
                            aws_secret_access_key=self._secret(wrong_secret), config=config)

    def upload_dir(self, local_dir, bucket, prefix=""):
        """Upload every file under ``local_dir`` as ``prefix/relative/path``, straight to moto (not
        counted, no faults), creating the bucket if needed. Returns the sorted keys."""
        s3, prefix, keys = self.client(endpoint_url=self.moto_url), prefix.strip("/"), []
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)
        for dirpath, _, files in os.walk(local_dir):
            for name in files:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
                key = f"{prefix}/{rel}" if prefix else rel
                with open(full, "rb") as f:
                    s3.put_object(Bucket=bucket, Key=key, Body=f.read())
                keys.append(key)
        return sorted(keys)

    def env(self, wrong_secret=False):
        """Environment for a child process to reach ``.url`` with signed requests (object_store's
        names). ``wrong_secret=True`` gives a bad secret, rejected only with ``auth=True``."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self._secret(wrong_secret),
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
                "AWS_ENDPOINT_URL": self.url, "AWS_ALLOW_HTTP": "true"}

    def stop(self):
        """Stop proxy and moto and restore moto's auth setting; safe to call twice."""
        if self._moto is None:
            return
        try:
            if self.proxy is not None:
                self.proxy.stop()
            if self._previous_auth is not None:
                self._moto_api("reset-auth", str(self._previous_auth).encode())
            if self._moto._server is not None:
                self._moto.stop()
                self._moto._server.server_close()  # ThreadedMotoServer.stop leaves the socket open
        finally:
            self._moto = None
            with S3Server._active_lock:
                S3Server._active = False
