"""Training from an S3 store with 20 ms of added round-trip latency (BENCHMARKS.md, issue 18).

A raw Zarr v3 volume written by zarr-python (1 MiB chunks) is uploaded to a loopback S3 server
(moto's `moto.server`, in its own process) behind the tests' fault proxy
(python/tests/remote_servers.py, in this process) adding `--latency` seconds to every request.
Each phase runs voxload's training loader (PyTC's default augmentation, 2 workers, `--samples`
samples) in a fresh child process, so every cold phase starts with an empty process and cache:

* local: the same store on the local disk;
* cold, no look-ahead: empty cache, `VOXLOAD_LOOKAHEAD_BYTES=0`;
* cold, look-ahead: empty cache, the default look-ahead;
* warm: the cache the previous phase filled.

Then tensorstore (zarr3 driver over its s3 kvstore, the same endpoint, credentials and latency)
reads the in-volume part of the same windows the loader read, `--threads` at a time, with no cache
(cold) — windows per second beside voxload's samples per second.

Usage: python remote_loader.py --dir target/bench-data/remote [--samples 160] [--latency 0.02]
"""

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
from remote_servers import FaultProxy, free_port  # noqa: E402

VOLUME = (128, 1024, 1024)
CHUNK = (16, 256, 256)

LOADER = r'''
import json, sys, time, voxload
job = json.loads(sys.argv[1])
loader = voxload.Loader(job["config"], seed=1, samples=job["samples"], workers=2)
windows, start = [], time.perf_counter()
batches = iter(loader)
for _ in range(job["batches"]):
    b = next(batches)
    windows += [(s["start"], s["shape"]) for s in b["info"]]
stats = loader.stats()
print(json.dumps({"seconds": time.perf_counter() - start, "stats": stats, "windows": windows}))
'''


def make_store(d):
    path = d / "em.zarr"
    if not (path / "raw" / "zarr.json").exists():
        rng = np.random.default_rng(0)
        root = zarr.open_group(str(path), mode="w", zarr_format=3)
        a = root.create_array("raw", shape=VOLUME, chunks=CHUNK, dtype="uint8", compressors=None)
        for z in range(0, VOLUME[0], CHUNK[0]):
            a[z:z + CHUNK[0]] = rng.integers(0, 255, size=(CHUNK[0],) + VOLUME[1:], dtype=np.uint8)
    return path


def run_loader(address, samples, env):
    config = {"DATASET": {"INPUT_PATH": address, "IMAGE_NAME": "raw"}, "SOLVER": {"SAMPLES_PER_BATCH": 8}}
    job = {"config": config, "samples": samples, "batches": samples // 8}
    r = subprocess.run([sys.executable, "-c", LOADER, json.dumps(job)], env=dict(os.environ, **env),
                       capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout)


class Moto:
    """moto's S3 server in a child process (its own interpreter), behind a latency proxy."""

    def __init__(self, latency):
        port = free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.moto_url = f"http://127.0.0.1:{port}"
        import boto3
        from botocore.config import Config
        self.s3 = boto3.client("s3", endpoint_url=self.moto_url, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=Config(retries={"total_max_attempts": 20, "mode": "standard"}))
        for _ in range(100):
            try:
                self.s3.list_buckets()
                break
            except Exception:
                time.sleep(0.1)
        self.proxy = FaultProxy(self.moto_url, latency_s=latency)

    def upload(self, local, bucket, prefix):
        self.s3.create_bucket(Bucket=bucket)
        for f in sorted(Path(local).rglob("*")):
            if f.is_file():
                self.s3.upload_file(str(f), bucket, f"{prefix}/{f.relative_to(local).as_posix()}")

    def env(self):
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.proxy.url, "AWS_ALLOW_HTTP": "true"}

    def requests(self):
        return self.proxy.requests()

    def reset_requests(self):
        self.proxy.reset_requests()

    def stop(self):
        self.proxy.stop()
        self.process.terminate()
        self.process.wait(timeout=10)


def tensorstore_cold(s3, windows, threads):
    import tensorstore as ts
    env = s3.env()
    spec = {"driver": "zarr3",
            "kvstore": {"driver": "s3", "bucket": "bench", "path": "em.zarr/raw/",
                        "endpoint": env["AWS_ENDPOINT_URL"], "aws_region": env["AWS_REGION"],
                        "aws_credentials": {"type": "environment"}},
            "context": {"cache_pool": {"total_bytes_limit": 0},
                        "data_copy_concurrency": {"limit": threads}}}
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        os.environ[k] = env[k]
    array = ts.open(spec, read=True).result()

    def read(w):
        (z, y, x), (d, h, wd) = w
        lo = [max(0, v) for v in (z, y, x)]
        hi = [min(n, v + s) for v, s, n in zip((z, y, x), (d, h, wd), VOLUME)]
        return array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].read().result()

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(threads) as pool:
        list(pool.map(read, windows))
    return len(windows) / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--samples", type=int, default=160)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    store = make_store(args.dir)
    results = {}
    s3 = Moto(args.latency)
    try:
        s3.upload(store, "bench", "em.zarr")
        cache = args.dir / "cache"
        base = {**s3.env(), "VOXLOAD_CACHE_DIR": str(cache)}
        local = run_loader(str(store), args.samples, {})
        results["local"] = local
        phases = [("cold, no look-ahead", {"VOXLOAD_LOOKAHEAD_BYTES": "0"}, True),
                  ("cold, look-ahead", {}, True), ("warm", {}, False)]
        for name, env, fresh in phases:
            if fresh:
                shutil.rmtree(cache, ignore_errors=True)
            s3.reset_requests()
            out = run_loader("s3://bench/em.zarr", args.samples, {**base, **env})
            out["requests"] = len(s3.requests())
            assert out["windows"] == local["windows"], "the same seed must give the same windows"
            results[name] = out
        try:
            results["tensorstore"] = {"windows_per_s": tensorstore_cold(s3, local["windows"], args.threads)}
        except Exception as e:  # reported, never dropped
            results["tensorstore"] = {"error": repr(e)}
    finally:
        s3.stop()
    rate = lambda r: args.samples / r["seconds"]
    print(f"| phase | samples/s | vs local | requests | cache hit rate |\n|---|---|---|---|---|")
    for name in ["local", "cold, no look-ahead", "cold, look-ahead", "warm"]:
        r = results[name]
        hit = r["stats"].get("cache_hit_rate", 0.0)
        print(f"| {name} | {rate(r):.1f} | {rate(r) / rate(results['local']):.2f}x | "
              f"{r.get('requests', 0)} | {hit:.2f} |")
    ts_rate = results["tensorstore"].get("windows_per_s")
    if ts_rate:
        print(f"| tensorstore, cold ({args.threads} threads), windows/s | {ts_rate:.1f} | | | |")
        print(f"\nvoxload cold with look-ahead / tensorstore cold: {rate(results['cold, look-ahead']) / ts_rate:.2f}x")
    else:
        print(f"\ntensorstore could not run: {results['tensorstore']['error']}")
    print(f"look-ahead / no look-ahead (cold): "
          f"{rate(results['cold, look-ahead']) / rate(results['cold, no look-ahead']):.2f}x; "
          f"warm / local: {rate(results['warm']) / rate(results['local']):.2f}")
    if args.json:
        for r in results.values():
            r.pop("windows", None)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
