"""Tests of the loopback servers in remote_servers.py, with boto3 and http.client only.

Every socket and client call has a timeout, and a SIGALRM watchdog bounds each test.
"""

import http.client
import json
import os
import signal
import socket
import threading
import time
import urllib.parse

import boto3
import numpy as np
import pytest
import zarr
from botocore.exceptions import ClientError
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from remote_servers import FaultProxy, HttpServer, Request, S3Server, free_port

DATA = bytes(i * 7 % 251 for i in range(1000))


@pytest.fixture(autouse=True)
def deadline():
    """Fail any test still running after 60 s instead of hanging the run."""
    def expire(signum, frame):
        raise TimeoutError("test exceeded its 60 s deadline")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def fetch(url, path, headers=None, method="GET", body=None, timeout=10):
    """One request on a fresh connection: (status, lower-cased headers, body)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.fixture
def root(tmp_path):
    d = tmp_path / "root"
    (d / "sub" / "dir").mkdir(parents=True)
    (d / "data.bin").write_bytes(DATA)
    (d / "sub" / "dir" / "chunk").write_bytes(b"chunk-bytes")
    (d / "empty").write_bytes(b"")
    (d / "a b.bin").write_bytes(b"spaced")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    return d


@pytest.fixture
def http_server(root):
    with HttpServer(root) as s:
        yield s


@pytest.fixture
def proxy(http_server):
    with FaultProxy(http_server.url) as p:
        yield p


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_http_get_and_head(http_server):
    status, h, body = fetch(http_server.url, "/data.bin")
    assert (status, body, h["content-length"]) == (200, DATA, "1000")
    assert h["etag"].startswith('"') and h["last-modified"].endswith("GMT") and h["accept-ranges"] == "bytes"
    status, h2, body = fetch(http_server.url, "/data.bin", method="HEAD")
    assert (status, body, h2["content-length"], h2["etag"]) == (200, b"", "1000", h["etag"])
    assert fetch(http_server.url, "/a%20b.bin")[2] == b"spaced"
    assert fetch(http_server.url, "/empty")[:3:2] == (200, b"")


@pytest.mark.parametrize("rng, status, lo, hi", [
    ("bytes=10-19", 206, 10, 19), ("bytes=990-", 206, 990, 999), ("bytes=-5", 206, 995, 999),
    ("bytes=-5000", 206, 0, 999), ("bytes=995-2000", 206, 995, 999), ("bytes=0-0", 206, 0, 0),
    ("bytes=1000-", 416, None, None), ("bytes=-0", 416, None, None),
    ("bytes=5-2", 200, 0, 999), ("bytes=0-1,5-6", 200, 0, 999), ("items=0-1", 200, 0, 999),
])
def test_http_ranges(http_server, rng, status, lo, hi):
    got, h, body = fetch(http_server.url, "/data.bin", {"Range": rng})
    assert got == status
    if status == 416:
        assert h["content-range"] == "bytes */1000"
    else:
        assert body == DATA[lo:hi + 1] and h["content-length"] == str(hi - lo + 1)
        assert h.get("content-range") == (f"bytes {lo}-{hi}/1000" if status == 206 else None)


def test_http_ranges_on_empty_file_and_head(http_server):
    assert fetch(http_server.url, "/empty", {"Range": "bytes=0-"})[0] == 416
    assert fetch(http_server.url, "/empty", {"Range": "bytes=-1"})[0] == 416
    status, h, _ = fetch(http_server.url, "/data.bin", {"Range": "bytes=0-9"}, method="HEAD")
    assert (status, h["content-length"]) == (200, "1000")  # Range is defined for GET only


def test_http_if_none_match(http_server, root):
    etag = fetch(http_server.url, "/data.bin")[1]["etag"]
    for inm in (etag, f'"x", W/{etag}', "*"):
        status, h, body = fetch(http_server.url, "/data.bin", {"If-None-Match": inm})
        assert (status, body, h["etag"]) == (304, b"", etag)
    assert fetch(http_server.url, "/data.bin", {"If-None-Match": '"other"'})[0] == 200
    (root / "data.bin").write_bytes(DATA[::-1])
    st = os.stat(root / "data.bin")
    os.utime(root / "data.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    status, h, body = fetch(http_server.url, "/data.bin", {"If-None-Match": etag})
    assert (status, body) == (200, DATA[::-1]) and h["etag"] != etag


@pytest.mark.parametrize("path", ["/missing", "/sub", "/sub/", "/sub/dir", "/", "/../outside.txt",
                                  "/%2e%2e/outside.txt", "/data.bin/", "/sub/../../outside.txt"])
def test_http_404(http_server, path):
    assert fetch(http_server.url, path)[0] == 404
    assert fetch(http_server.url, path, method="HEAD")[0] == 404


def test_http_read_only(http_server):
    assert fetch(http_server.url, "/data.bin", method="PUT", body=b"x")[0] == 405


def test_http_keep_alive_and_counting(http_server):
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=10)
    statuses, socks = [], []
    for path, headers in [("/data.bin", {}), ("/data.bin", {"Range": "bytes=-3"}), ("/nope", {})]:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        statuses.append(r.status)
        socks.append(conn.sock)
    conn.close()
    assert statuses == [200, 206, 404] and socks[0] is socks[1] is socks[2]
    assert http_server.requests() == [Request("GET", "/data.bin", None, 200),
                                      Request("GET", "/data.bin", "bytes=-3", 206),
                                      Request("GET", "/nope", None, 404)]
    assert http_server.count("GET", "/data.bin") == 2 and http_server.count(status=404) == 1
    http_server.reset_requests()
    assert http_server.requests() == []


class _Echo(BaseHTTPRequestHandler):
    """Upstream answering with the headers and body it received, as JSON."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        out = json.dumps({"headers": dict(self.headers.items()), "body": self.rfile.read(n).decode(),
                          "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_PUT = do_POST = do_GET

    def log_message(self, *args):
        pass


def test_proxy_forwards_request_unchanged():
    echo = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    try:
        with FaultProxy(f"http://127.0.0.1:{echo.server_address[1]}") as p:
            sent = {"Host": "bucket.example:1234", "Authorization": "AWS4-HMAC-SHA256 Credential=k/x",
                    "x-amz-date": "20250101T000000Z", "Range": "bytes=1-2", "If-None-Match": '"e"'}
            _, _, body = fetch(p.url, "/k/a%2Fb?list-type=2", sent)
            got = json.loads(body)
            assert got["path"] == "/k/a%2Fb?list-type=2"
            assert all(got["headers"][k] == v for k, v in sent.items())
            u = urllib.parse.urlsplit(p.url)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            conn.request("PUT", "/up", body=iter([b"ab", b"cd"]), encode_chunked=True)
            got = json.loads(conn.getresponse().read())
            conn.close()
            assert got["body"] == "abcd" and got["headers"]["Content-Length"] == "4"
            assert "Transfer-Encoding" not in got["headers"]
    finally:
        echo.shutdown()
        echo.server_close()


def test_proxy_passthrough_and_counting(proxy, http_server):
    status, h, body = fetch(proxy.url, "/data.bin", {"Range": "bytes=-4"})
    assert (status, body, h["content-range"]) == (206, DATA[-4:], "bytes 996-999/1000")
    status, _, body = fetch(proxy.url, "/data.bin", {"If-None-Match": h["etag"]})
    assert (status, body) == (304, b"")
    status, h, body = fetch(proxy.url, "/data.bin", method="HEAD")
    assert (status, body, h["content-length"]) == (200, b"", "1000")
    assert fetch(proxy.url, "/missing")[0] == 404
    assert [r.status for r in proxy.requests()] == [206, 304, 200, 404]
    assert proxy.requests() == http_server.requests()


def test_proxy_503(proxy, http_server):
    proxy.fail_next(2, "503")
    for _ in range(2):
        status, h, body = fetch(proxy.url, "/data.bin")
        assert (status, h["retry-after"]) == (503, "0") and b"ServiceUnavailable" in body
    assert fetch(proxy.url, "/data.bin")[0] == 200
    assert [r.status for r in proxy.requests()] == ["503", "503", 200]
    assert http_server.count() == 1


def test_proxy_drop(proxy, http_server):
    proxy.fail_next(1, "drop")
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        fetch(proxy.url, "/data.bin")
    assert fetch(proxy.url, "/data.bin")[0] == 200
    assert [r.status for r in proxy.requests()] == ["drop", 200] and http_server.count() == 1


def test_proxy_truncate(proxy, http_server):
    proxy.fail_next(1, "truncate")
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", "/data.bin")
    r = conn.getresponse()
    assert (r.status, r.getheader("Content-Length")) == (200, "1000")
    with pytest.raises(http.client.IncompleteRead) as e:
        r.read()
    conn.close()
    assert e.value.partial == DATA[:500]
    assert proxy.requests()[0].status == "truncate" and http_server.count() == 1


def test_proxy_schedules(proxy):
    def statuses(paths):
        return [fetch(proxy.url, p)[0] for p in paths]
    proxy.fail_every(3, "503")
    assert statuses(["/data.bin"] * 6) == [200, 200, 503, 200, 200, 503]
    proxy.clear_faults()
    assert statuses(["/data.bin"] * 3) == [200] * 3
    proxy.plan([None, "503"])
    assert statuses(["/data.bin"] * 3) == [200, 503, 200]
    proxy.fail_next(1, "503", path_contains="/sub/")
    assert statuses(["/data.bin", "/sub/dir/chunk", "/sub/dir/chunk"]) == [200, 503, 200]
    proxy.fail_every(2, 503, path_contains="chunk")
    assert statuses(["/sub/dir/chunk", "/data.bin", "/sub/dir/chunk"]) == [200, 200, 503]
    proxy.clear_faults()
    proxy.fail_first_of_every(2, "503")
    paths = ["/data.bin?1", "/data.bin?2", "/data.bin?2", "/data.bin?3", "/data.bin?4", "/data.bin?4"]
    assert statuses(paths) == [200, 503, 200, 200, 503, 200]


def test_proxy_rejects_bad_settings(http_server):
    with FaultProxy(http_server.url) as p:
        with pytest.raises(ValueError):
            p.fail_next(1, "explode")
        with pytest.raises(ValueError):
            p.fail_every(0, "drop")
    with pytest.raises(ValueError):
        FaultProxy("https://example.com")


def test_proxy_upstream_down_is_502():
    with FaultProxy(f"http://127.0.0.1:{free_port()}", upstream_timeout=5) as p:
        assert fetch(p.url, "/x")[0] == 502
        assert p.requests()[0].status == 502


def test_proxy_latency(proxy):
    proxy.latency_s = 0.3
    for _ in range(2):
        t0 = time.monotonic()
        assert fetch(proxy.url, "/data.bin")[0] == 200
        assert time.monotonic() - t0 >= 0.3
    proxy.latency_s = 0.0


def test_proxy_hang_times_out_and_stop_is_prompt(http_server):
    p = FaultProxy(http_server.url)
    p.fail_next(2, "hang")
    with pytest.raises(TimeoutError):
        fetch(p.url, "/data.bin", timeout=0.5)
    outcome = []

    def waiting_client():
        try:
            outcome.append(fetch(p.url, "/data.bin", timeout=30)[0])
        except (OSError, http.client.HTTPException) as e:
            outcome.append(type(e).__name__)
    t = threading.Thread(target=waiting_client, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while len(p.requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.status for r in p.requests()] == ["hang", "hang"]
    t0 = time.monotonic()
    p.stop()
    assert time.monotonic() - t0 < 5
    t.join(timeout=5)
    assert not t.is_alive() and outcome and outcome[0] != 200
    p.stop()  # idempotent
    assert http_server.count() == 0


def write_zarr(path):
    a = zarr.create_array(str(path), shape=(8, 8), chunks=(4, 4), dtype="uint16", zarr_format=3)
    a[...] = np.arange(64, dtype=np.uint16).reshape(8, 8)


def test_s3_upload_zarr_and_read_back(tmp_path):
    write_zarr(tmp_path / "em.zarr")
    files = sorted(str(p.relative_to(tmp_path / "em.zarr")) for p in (tmp_path / "em.zarr").rglob("*")
                   if p.is_file())
    with S3Server() as s:
        keys = s.upload_dir(tmp_path / "em.zarr", "vox-bucket", "data/em.zarr/")
        assert keys == [f"data/em.zarr/{f}" for f in files] and "data/em.zarr/zarr.json" in keys
        assert s.requests() == []  # uploads bypass the counted endpoint
        c = s.client()
        listed = c.list_objects_v2(Bucket="vox-bucket", Prefix="data/")["Contents"]
        assert sorted(o["Key"] for o in listed) == keys
        for f in files:
            body = c.get_object(Bucket="vox-bucket", Key=f"data/em.zarr/{f}")["Body"].read()
            assert body == (tmp_path / "em.zarr" / f).read_bytes()
        s.reset_requests()
        meta = (tmp_path / "em.zarr" / "zarr.json").read_bytes()
        r = c.get_object(Bucket="vox-bucket", Key="data/em.zarr/zarr.json", Range="bytes=-5")
        n = len(meta)
        assert r["Body"].read() == meta[-5:] and r["ContentRange"] == f"bytes {n - 5}-{n - 1}/{n}"
        assert s.requests() == [Request("GET", "/vox-bucket/data/em.zarr/zarr.json", "bytes=-5", 206)]
        assert s.count("GET", "/vox-bucket/data/em.zarr/zarr.json") == 1
        env = s.env()
        assert env["AWS_ENDPOINT_URL"] == s.url and env["AWS_ALLOW_HTTP"] == "true"
        assert env["AWS_REGION"] == "us-east-1" and env["AWS_ACCESS_KEY_ID"] == "testing"
        assert c.list_objects_v2(Bucket="vox-bucket", Prefix="data/")["KeyCount"] == len(keys)
        with pytest.raises(ClientError) as e:
            c.get_object(Bucket="vox-bucket", Key="data/em.zarr/zarr.json", IfNoneMatch=r["ETag"])
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304


def test_s3_faults_and_retries():
    with S3Server() as s:
        c = s.client()
        c.create_bucket(Bucket="vox-bucket")
        c.put_object(Bucket="vox-bucket", Key="k", Body=b"payload")
        s.reset_requests()
        s.proxy.fail_next(1, "503")
        with pytest.raises(ClientError) as e:
            c.get_object(Bucket="vox-bucket", Key="k")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        s.proxy.fail_next(1, "503")
        assert s.client(max_attempts=3).get_object(Bucket="vox-bucket", Key="k")["Body"].read() == b"payload"
        assert [r.status for r in s.requests()] == ["503", "503", 200]
        assert s.client(wrong_secret=True).get_object(Bucket="vox-bucket", Key="k")["Body"].read() == b"payload"


def test_s3_auth_rejects_wrong_secret(tmp_path):
    import moto.settings

    before = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.bin").write_bytes(b"signed")
    with S3Server(auth=True) as s:
        assert s.access_key_id.startswith("AKIA") and s.env()["AWS_SECRET_ACCESS_KEY"] == s.secret_access_key
        assert s.env(wrong_secret=True)["AWS_SECRET_ACCESS_KEY"] != s.secret_access_key
        assert s.upload_dir(tmp_path / "d", "vox-bucket", "p") == ["p/f.bin"]
        with FaultProxy(s.url) as outer:  # proxies chained: the signed Host header survives both
            for url in (s.url, outer.url):
                assert s.client(endpoint_url=url).get_object(Bucket="vox-bucket", Key="p/f.bin")["Body"].read() \
                    == b"signed"
                with pytest.raises(ClientError) as e:
                    s.client(wrong_secret=True, endpoint_url=url).get_object(Bucket="vox-bucket", Key="p/f.bin")
                assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
                assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            assert [r.status for r in outer.requests()] == [200, 403]
        stranger = boto3.client("s3", endpoint_url=s.url, region_name="us-east-1", aws_access_key_id="testing",
                                aws_secret_access_key="testing", config=s.client().meta.config)
        with pytest.raises(ClientError) as e:
            stranger.list_objects_v2(Bucket="vox-bucket")
        assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        assert fetch(s.url, "/vox-bucket/p/f.bin")[0] == 403  # unsigned
    assert moto.settings.INITIAL_NO_AUTH_ACTION_COUNT == before  # restored by stop()


def test_s3_one_at_a_time_and_fresh_state():
    with S3Server() as s:
        s.client().create_bucket(Bucket="left-over")
        with pytest.raises(RuntimeError):
            S3Server()
    with S3Server() as s:
        assert s.client().list_buckets()["Buckets"] == []
