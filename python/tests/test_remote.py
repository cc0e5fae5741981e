"""Remote stores (issue 18): Zarr stores written by zarr-python, served by a real S3 server (moto)
and a plain HTTP server on loopback, read by voxload in child processes (so each run starts with
an empty process and the servers, which run in this process, are never starved of the GIL).

Every window is compared with numpy.pad of the local array; the servers count what they are sent.
"""

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
import zarr

from conftest import voxload_bin
from remote_servers import FaultProxy, HttpServer, S3Server

PADS = ["constant", "constant:7", "reflect", "symmetric", "edge"]
WINDOWS = [([-3, -5, 60], [10, 40, 50]), ([0, 0, 0], [8, 32, 32]), ([15, 60, -20], [9, 30, 40]),
           ([-12, -40, -40], [6, 20, 20])]
DEADLINE = 120

DRIVER = r'''
import json, sys, numpy as np, voxload
job = json.loads(sys.argv[1])
store = voxload.open(job["store"])
out = {}
for i, (name, start, shape, pad) in enumerate(job["reads"]):
    out[f"r{i}"] = store[name].read(tuple(start), tuple(shape), pad=pad)
if job["out"].endswith(".json"):
    # Digests only: a run whose files may not grow past a few KiB (a full disk) can write them.
    import hashlib
    digests = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in out.items()}
    open(job["out"], "w").write(json.dumps(digests))
else:
    np.savez(job["out"], **out)
'''


def numpy_pad(a, start, shape, pad):
    """The oracle: the window of `a` padded as numpy.pad pads the whole volume."""
    mode, value = (pad.split(":") + ["0"])[:2] if pad.startswith("constant") else (pad, None)
    width = [(max(0, -s), max(0, s + n - d)) for s, n, d in zip(start, shape, a.shape)]
    big = max(max(w) for w in width)
    kw = {"constant_values": int(value)} if mode == "constant" else {}
    padded = np.pad(a, [(big, big)] * 3, mode=mode, **kw)
    sl = tuple(slice(s + big, s + big + n) for s, n in zip(start, shape))
    return padded[sl]


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    """One store holding every layout: raw, zstd, raw shards, compressed shards, Zarr v2 (blosc),
    and an OME-Zarr 0.4 image on Zarr v2; some chunks never written (read as the fill value)."""
    d = tmp_path_factory.mktemp("remote")
    rng = np.random.default_rng(5)
    data = rng.integers(0, 250, size=(20, 70, 90), dtype=np.uint8)
    seg = (np.arange(20 * 70 * 90, dtype=np.uint32).reshape(20, 70, 90) // 97).astype(np.uint16)
    seg[:, 40:, :] = 0  # whole chunks of zeros are not written by zarr-python
    root = zarr.open_group(str(d / "em.zarr"), mode="w", zarr_format=3)
    root.create_array("raw", shape=data.shape, chunks=(8, 32, 32), dtype="uint8", compressors=None)[...] = data
    root.create_array("zstd", shape=seg.shape, chunks=(8, 32, 32), dtype="uint16")[...] = seg
    root.create_array("shard_raw", shape=data.shape, chunks=(4, 16, 16), shards=(8, 32, 32),
                      dtype="uint8", compressors=None)[...] = data
    root.create_array("shard_zstd", shape=seg.shape, chunks=(4, 16, 16), shards=(8, 32, 64),
                      dtype="uint16")[...] = seg
    v2 = zarr.open_group(str(d / "v2.zarr"), mode="w", zarr_format=2)
    v2.create_array("blosc", shape=seg.shape, chunks=(8, 32, 32), dtype="uint16")[...] = seg
    image = v2.create_group("image")
    image.create_array("0", shape=data.shape, chunks=(8, 32, 32), dtype="uint8")[...] = data
    image.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a, "type": "space"} for a in "zyx"],
                                   "datasets": [{"path": "0", "coordinateTransformations":
                                                 [{"type": "scale", "scale": [1, 1, 1]}]}]}]
    arrays = {("em.zarr", "raw"): data, ("em.zarr", "zstd"): seg, ("em.zarr", "shard_raw"): data,
              ("em.zarr", "shard_zstd"): seg, ("v2.zarr", "blosc"): seg, ("v2.zarr", "image"): data}
    return d, arrays


def run_driver(env, store, reads, out, timeout=DEADLINE, preexec=None):
    full = dict(os.environ)
    full.update(env)
    job = {"store": store, "reads": reads, "out": str(out)}
    return subprocess.run([sys.executable, "-c", DRIVER, json.dumps(job)], env=full, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec)


def every_read(arrays, store_name):
    return [(name, list(s), list(n), pad) for (st, name) in arrays if st == store_name
            for (s, n) in WINDOWS for pad in PADS]


def check_reads(arrays, store_name, reads, out):
    if str(out).endswith(".json"):
        got = json.loads(open(out).read())
        for i, (name, start, shape, pad) in enumerate(reads):
            want = numpy_pad(arrays[(store_name, name)], start, shape, pad)
            assert got[f"r{i}"] == hashlib.sha256(np.ascontiguousarray(want).tobytes()).hexdigest(), (name, pad)
        return
    got = np.load(out)
    for i, (name, start, shape, pad) in enumerate(reads):
        want = numpy_pad(arrays[(store_name, name)], start, shape, pad)
        assert np.array_equal(got[f"r{i}"], want), (store_name, name, start, shape, pad)


@pytest.fixture()
def s3(volumes):
    d, _ = volumes
    with S3Server() as server:
        server.client().create_bucket(Bucket="voxload-test")
        for store in ("em.zarr", "v2.zarr"):
            server.upload_dir(str(d / store), "voxload-test", f"data/{store}")
        server.reset_requests()
        yield server


def cache_env(tmp_path, **extra):
    env = {"VOXLOAD_CACHE_DIR": str(tmp_path / "cache"), "VOXLOAD_REMOTE_TIMEOUT": "5"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def test_s3_windows_equal_numpy_pad_and_a_warm_cache_sends_no_request(volumes, s3, tmp_path):
    _, arrays = volumes
    env = {**s3.env(), **cache_env(tmp_path)}
    for store in ("em.zarr", "v2.zarr"):
        reads = every_read(arrays, store)
        r = run_driver(env, f"s3://voxload-test/data/{store}", reads, tmp_path / "a.npz")
        assert r.returncode == 0, r.stderr
        check_reads(arrays, store, reads, tmp_path / "a.npz")
    assert s3.count("GET") > 0
    s3.reset_requests()
    for store in ("em.zarr", "v2.zarr"):
        reads = every_read(arrays, store)
        r = run_driver(env, f"s3://voxload-test/data/{store}", reads, tmp_path / "b.npz")
        assert r.returncode == 0, r.stderr
        check_reads(arrays, store, reads, tmp_path / "b.npz")
    assert s3.requests() == [], s3.requests()[:10]


def test_http_windows_and_revalidation_by_etag(volumes, tmp_path):
    d, arrays = volumes
    with HttpServer(str(d)) as http:
        env = cache_env(tmp_path, VOXLOAD_METADATA_TTL=0)
        reads = every_read(arrays, "em.zarr")
        store = f"{http.url}/em.zarr"
        r = run_driver(env, store, reads, tmp_path / "a.npz")
        assert r.returncode == 0, r.stderr
        check_reads(arrays, "em.zarr", reads, tmp_path / "a.npz")
        assert any(q.range for q in http.requests()), "shards are read by byte range"
        http.reset_requests()
        r = run_driver(env, store, reads, tmp_path / "b.npz")
        assert r.returncode == 0, r.stderr
        check_reads(arrays, "em.zarr", reads, tmp_path / "b.npz")
        # With no freshness allowed, only metadata is asked again, and answered "not modified".
        assert http.requests() and all(q.path.endswith(("zarr.json", ".zarray", ".zgroup", ".zattrs",
                                                        ".zmetadata")) for q in http.requests())
        assert all(q.status in (304, 404) for q in http.requests()), http.requests()
    # The server is gone: what is cached still reads, with one warning; the rest fails promptly.
    r = run_driver(env, store, reads, tmp_path / "c.npz", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("unreachable") == 1, r.stderr
    check_reads(arrays, "em.zarr", reads, tmp_path / "c.npz")
    r = run_driver(env, f"{store}", [("raw", [0, 0, 0], [20, 70, 90], "constant")], tmp_path / "d.npz", timeout=60)
    assert r.returncode != 0 and store in r.stderr and "raw/c/" in r.stderr, r.stderr


def test_faults_are_retried_and_never_give_wrong_voxels(volumes, s3, tmp_path):
    _, arrays = volumes
    s3.proxy.latency_s = 0.01
    reads = every_read(arrays, "em.zarr")
    for i, kind in enumerate(["503", "drop", "truncate"]):
        s3.proxy.clear_faults()
        s3.proxy.fail_first_of_every(3, kind)
        env = {**s3.env(), **cache_env(tmp_path / kind, VOXLOAD_REMOTE_RETRIES=6)}
        r = run_driver(env, "s3://voxload-test/data/em.zarr", reads, tmp_path / f"{i}.npz")
        assert r.returncode == 0, (kind, r.stderr)
        check_reads(arrays, "em.zarr", reads, tmp_path / f"{i}.npz")
        assert s3.proxy.count(status=kind) > 0, kind


@pytest.mark.parametrize("kind", ["503", "hang"])
def test_a_persistent_fault_is_a_clear_error_naming_key_and_endpoint(volumes, s3, tmp_path, kind):
    env = {**s3.env(), **cache_env(tmp_path, VOXLOAD_REMOTE_RETRIES=1, VOXLOAD_REMOTE_TIMEOUT=1)}
    r = run_driver(env, "s3://voxload-test/data/em.zarr", [("raw", [0, 0, 0], [4, 4, 4], "edge")],
                   tmp_path / "a.npz")
    assert r.returncode == 0, r.stderr
    s3.proxy.fail_every(1, kind, path_contains="/raw/c/")
    r = run_driver(env, "s3://voxload-test/data/em.zarr", [("raw", [8, 32, 32], [4, 4, 4], "edge")],
                   tmp_path / "b.npz", timeout=60)
    assert r.returncode != 0
    assert "s3://voxload-test/data/em.zarr" in r.stderr and "raw/c/1/1/1" in r.stderr, r.stderr
    assert "Traceback" in r.stderr and "panicked" not in r.stderr


def test_concurrent_processes_fetch_each_chunk_once(volumes, s3, tmp_path):
    _, arrays = volumes
    s3.proxy.latency_s = 0.05
    env = {**s3.env(), **cache_env(tmp_path)}
    full = dict(os.environ, **env)
    reads = every_read(arrays, "em.zarr")
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(
        {"store": "s3://voxload-test/data/em.zarr", "reads": reads, "out": str(tmp_path / f"{i}.npz")})],
        env=full, stderr=subprocess.PIPE, text=True) for i in range(3)]
    for p in procs:
        assert p.wait(timeout=DEADLINE) == 0, p.stderr.read()
    for i in range(3):
        check_reads(arrays, "em.zarr", reads, tmp_path / f"{i}.npz")
    chunk_gets = [(q.path.split("?")[0], q.range) for q in s3.requests()
                  if q.method == "GET" and "/c/" in q.path]
    assert chunk_gets and len(chunk_gets) == len(set(chunk_gets)), sorted(chunk_gets)


def test_corrupt_entries_are_fetched_again_and_eviction_keeps_the_limit(volumes, s3, tmp_path):
    _, arrays = volumes
    env = {**s3.env(), **cache_env(tmp_path)}
    reads = [("raw", [0, 0, 0], [20, 70, 90], "constant")]
    assert run_driver(env, "s3://voxload-test/data/em.zarr", reads, tmp_path / "a.npz").returncode == 0
    cached = [p for p in (tmp_path / "cache").rglob("raw/c/0/0/0")]
    assert len(cached) == 1
    blob = bytearray(cached[0].read_bytes())
    blob[100] ^= 0xFF
    cached[0].write_bytes(bytes(blob))
    s3.reset_requests()
    r = run_driver(env, "s3://voxload-test/data/em.zarr", reads, tmp_path / "b.npz")
    assert r.returncode == 0, r.stderr
    check_reads(arrays, "em.zarr", reads, tmp_path / "b.npz")
    assert [q.path for q in s3.requests() if "/c/" in q.path] == ["/voxload-test/data/em.zarr/raw/c/0/0/0"]
    # A cache smaller than the array: old entries go, the limit holds, the voxels stay right.
    small = {**env, "VOXLOAD_CACHE_DIR": str(tmp_path / "small"), "VOXLOAD_CACHE_BYTES": "40000"}
    r = run_driver(small, "s3://voxload-test/data/em.zarr", reads + reads, tmp_path / "c.npz")
    assert r.returncode == 0, r.stderr
    check_reads(arrays, "em.zarr", reads + reads, tmp_path / "c.npz")
    info = subprocess.run([voxload_bin(), "cache", "info", "--json"], env=dict(os.environ, **small),
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    assert 0 < json.loads(info.stdout)["bytes"] <= 40000 + 16384, info.stdout
    cleared = subprocess.run([voxload_bin(), "cache", "clear"], env=dict(os.environ, **small),
                             capture_output=True, text=True, timeout=60)
    assert cleared.returncode == 0 and not (tmp_path / "small" / "remote").exists()


def test_a_full_disk_still_reads_from_memory_with_a_warning(volumes, s3, tmp_path):
    _, arrays = volumes
    env = {**s3.env(), **cache_env(tmp_path)}

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    reads = [("raw", [-2, -3, 5], [12, 40, 50], "reflect"), ("zstd", [0, 0, 0], [9, 33, 33], "edge")]
    r = run_driver(env, "s3://voxload-test/data/em.zarr", reads, tmp_path / "a.json", preexec=limit_file_size)
    assert r.returncode == 0, r.stderr
    assert "cannot write to the cache" in r.stderr and r.stderr.count("cannot write") == 1, r.stderr
    check_reads(arrays, "em.zarr", reads, tmp_path / "a.json")


def test_signed_requests_and_a_wrong_key_without_key_material(volumes, tmp_path):
    d, arrays = volumes
    with S3Server(auth=True) as server:
        server.client().create_bucket(Bucket="voxload-auth")
        server.upload_dir(str(d / "em.zarr"), "voxload-auth", "em.zarr")
        reads = [("raw", [-1, 2, 3], [5, 6, 7], "symmetric")]
        r = run_driver({**server.env(), **cache_env(tmp_path / "ok")}, "s3://voxload-auth/em.zarr", reads,
                       tmp_path / "a.npz")
        assert r.returncode == 0, r.stderr
        check_reads(arrays, "em.zarr", reads, tmp_path / "a.npz")
        bad = server.env(wrong_secret=True)
        r = run_driver({**bad, **cache_env(tmp_path / "bad")}, "s3://voxload-auth/em.zarr", reads,
                       tmp_path / "b.npz")
        assert r.returncode != 0
        assert "credentials" in r.stderr and "s3://voxload-auth/em.zarr" in r.stderr, r.stderr
        assert bad["AWS_SECRET_ACCESS_KEY"] not in r.stderr and bad["AWS_ACCESS_KEY_ID"] not in r.stderr
        for f in (tmp_path / "bad").rglob("*"):
            if f.is_file():
                assert bad["AWS_SECRET_ACCESS_KEY"].encode() not in f.read_bytes()


LOADER = r'''
import hashlib, json, sys, voxload
job = json.loads(sys.argv[1])
loader = voxload.Loader(job["config"], seed=3, samples=12, workers=2)
batches = iter(loader)
digests = [{k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in next(batches).items() if k != "info"}
           for _ in range(4)]
print(json.dumps({"digests": digests, "stats": loader.stats()}))
'''


def test_a_training_loader_on_s3_gives_the_local_batches_with_or_without_look_ahead(volumes, s3, tmp_path):
    d, _ = volumes

    def config(path):
        return {"DATASET": {"INPUT_PATH": path, "IMAGE_NAME": "raw", "LABEL_NAME": "zstd", "PAD_SIZE": [2, 8, 8]},
                "MODEL": {"INPUT_SIZE": [4, 24, 24]}, "AUGMENTOR": {"ENABLED": True},
                "SOLVER": {"SAMPLES_PER_BATCH": 3}}

    def run(path, **env):
        full = dict(os.environ, **s3.env(), **cache_env(tmp_path / "c", **env))
        r = subprocess.run([sys.executable, "-c", LOADER, json.dumps({"config": config(path)})], env=full,
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    local = run(str(d / "em.zarr"))
    cold = run("s3://voxload-test/data/em.zarr", VOXLOAD_LOOKAHEAD_BYTES=0)
    assert cold["digests"] == local["digests"] and cold["stats"]["cache_fetches"] > 0
    warm = run("s3://voxload-test/data/em.zarr")
    assert warm["digests"] == local["digests"]
    assert warm["stats"]["cache_fetches"] == 0 and warm["stats"]["cache_hit_rate"] == 1.0, warm["stats"]
    import shutil
    shutil.rmtree(tmp_path / "c")
    ahead = run("s3://voxload-test/data/em.zarr")
    assert ahead["digests"] == local["digests"] and ahead["stats"]["cache_fetches"] > 0
