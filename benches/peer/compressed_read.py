"""Compressed and foreign-format reads, side by side in one process (BENCHMARKS.md, issue 17).

1. Random in-volume windows on compressed Zarr v3 arrays with (64, 64, 64) chunks — blosc-lz4,
   zstd, and zstd shards of (128, 512, 512) — read by voxload (`voxload.open(...)[name].read`)
   and by tensorstore (driver zarr3), each with a decoded-chunk cache of the same bytes
   (voxload's default 256 MiB; tensorstore's cache_pool total_bytes_limit set to it), each from
   the same number of Python threads (tensorstore's data-copy and file-I/O concurrency set to
   it too), after one warm-up pass so both caches are as warm as they get.
2. voxload's raw paths on the same voxels: Zarr v3 raw chunks, Zarr v2 raw chunks
   (`compressor: null`), an HDF5 contiguous dataset (h5py) and an uncompressed multi-page TIFF
   (tifffile), one thread.
3. The full training loader (PyTC's default augmentation, 2 workers) on the blosc array
   against the same loader on the raw array.

Usage: python compressed_read.py --dir target/bench-data/formats --voxload target/release/voxload
       [--seconds 4] [--rounds 3]
Prints Markdown tables; --json FILE also writes the raw figures.
"""

import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import tensorstore as ts
import tifffile
import zarr

import voxload

VOLUME = (128, 2048, 2048)
SMALL = (64, 1024, 1024)
CACHE = 256 << 20
WINDOWS = [(8, 256, 256), (17, 225, 225)]


def make_data(d, vox):
    """The synthetic EM-like volume once (voxload synth, raw), then its encodings."""
    d.mkdir(parents=True, exist_ok=True)
    raw = d / "raw.zarr"
    if not (raw / "image" / "zarr.json").exists():
        subprocess.run([vox, "synth", raw, "--volume", ",".join(map(str, VOLUME)),
                        "--chunk", "64,64,64"], check=True)
    data = None
    specs = {
        "blosc_lz4": dict(chunks=(64, 64, 64), compressors=zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")),
        "zstd": dict(chunks=(64, 64, 64), compressors=zarr.codecs.ZstdCodec(level=3)),
        "sharded_zstd": dict(chunks=(64, 64, 64), shards=(128, 512, 512), compressors=zarr.codecs.ZstdCodec(level=3)),
    }
    for name, kwargs in specs.items():
        path = d / f"{name}.zarr"
        if (path / "image" / "zarr.json").exists():
            continue
        if data is None:
            data = zarr.open_array(str(raw / "image"), mode="r")[...]
        print(f"writing {path}", flush=True)
        zarr.open_group(str(path), mode="w").create_array("image", shape=VOLUME, dtype="uint8",
                                                          **kwargs)[...] = data
    small = d / "small"
    small.mkdir(exist_ok=True)
    if not (small / "v3.zarr" / "image" / "zarr.json").exists():
        if data is None:
            data = zarr.open_array(str(raw / "image"), mode="r")[...]
        part = data[: SMALL[0], : SMALL[1], : SMALL[2]]
        chunks = (16, 256, 1024)
        zarr.open_group(str(small / "v3.zarr"), mode="w").create_array(
            "image", shape=SMALL, chunks=chunks, dtype="uint8", compressors=None)[...] = part
        zarr.open_group(str(small / "v2.zarr"), mode="w", zarr_format=2).create_array(
            "image", shape=SMALL, chunks=chunks, dtype="uint8", compressors=None)[...] = part
        with h5py.File(small / "im.h5", "w") as f:
            f.create_dataset("image", data=part)
        tifffile.imwrite(small / "im.tif", part)


def starts(volume, shape, seed):
    rng = np.random.default_rng(seed)
    while True:
        yield tuple(int(rng.integers(0, v - s + 1)) for v, s in zip(volume, shape))


def rate(read, volume, shape, threads, seconds, seed=0):
    """Windows per second from `threads` Python threads each calling `read(start, shape)`."""
    def worker(i):
        gen = starts(volume, shape, seed + i)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            read(next(gen), shape)
            n += 1
        return n, time.perf_counter() - t0
    with cf.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(worker, range(threads)))
    return sum(n for n, _ in results) / max(t for _, t in results)


def voxload_reader(path):
    array = voxload.open(path)["image"]
    return lambda start, shape: array.read(start, shape)


def tensorstore_reader(path, threads):
    array = ts.open({
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": f"{path}/image/"},
        "context": {
            "cache_pool": {"total_bytes_limit": CACHE},
            "data_copy_concurrency": {"limit": threads},
            "file_io_concurrency": {"limit": threads},
        },
        "recheck_cached_data": False,
    }, read=True).result()

    def read(start, shape):
        return array[tuple(slice(s, s + n) for s, n in zip(start, shape))].read().result()
    return read


def warm(read, volume, shape, count=400):
    gen = starts(volume, shape, 99)
    for _ in range(count):
        read(next(gen), shape)


def compressed(d, seconds, rounds, out):
    print("\n| array (64³ chunks) | window | threads | voxload windows/s | tensorstore windows/s | x tensorstore |")
    print("|---|---|---|---|---|---|")
    for name in ("blosc_lz4", "zstd", "sharded_zstd"):
        path = d / f"{name}.zarr"
        for shape in WINDOWS:
            for threads in (1, 2):
                v, t = [], []
                vox = voxload_reader(path)
                tsr = tensorstore_reader(path, threads)
                warm(vox, VOLUME, shape)
                warm(tsr, VOLUME, shape)
                for _ in range(rounds):
                    v.append(rate(vox, VOLUME, shape, threads, seconds))
                    t.append(rate(tsr, VOLUME, shape, threads, seconds))
                vm, tm = float(np.median(v)), float(np.median(t))
                out.append(dict(part="compressed", array=name, window=shape, threads=threads,
                                voxload=vm, tensorstore=tm, ratio=vm / tm))
                print(f"| {name} | {shape} | {threads} | {vm:.0f} | {tm:.0f} | {vm / tm:.2f} |", flush=True)


def raw_paths(d, seconds, rounds, out):
    small = d / "small"
    cases = [("Zarr v3 raw", small / "v3.zarr"), ("Zarr v2 raw", small / "v2.zarr"),
             ("HDF5 contiguous", small / "im.h5"), ("TIFF uncompressed", small / "im.tif")]
    print("\n| format (same voxels) | window | windows/s, 1 thread | x Zarr v3 raw |")
    print("|---|---|---|---|")
    for shape in WINDOWS:
        readers = []
        for label, path in cases:
            s = voxload.open(path)
            array = s["image" if "image" in s.array_names() else s.array_names()[0]]
            readers.append((label, lambda st, sh, a=array: a.read(st, sh)))
        for _, r in readers:
            warm(r, SMALL, shape, 200)
        figures = {label: [] for label, _ in readers}
        for _ in range(rounds):  # alternate, so drift hits every format alike
            for label, r in readers:
                figures[label].append(rate(r, SMALL, shape, 1, seconds))
        base = float(np.median(figures["Zarr v3 raw"]))
        for label, _ in readers:
            m = float(np.median(figures[label]))
            out.append(dict(part="raw", format=label, window=shape, rate=m, ratio=m / base))
            print(f"| {label} | {shape} | {m:.0f} | {m / base:.2f} |", flush=True)


def loader(d, seconds, rounds, out):
    print("\n| loader (PyTC default augmentation, 2 workers, (17, 225, 225)) | samples/s | x raw |")
    print("|---|---|---|")

    def samples_per_s(store):
        cfg = {"SYSTEM": {"NUM_CPUS": 2},
               "DATASET": {"INPUT_PATH": str(store), "IMAGE_NAME": "image"},
               "MODEL": {"INPUT_SIZE": [17, 225, 225]},
               "SOLVER": {"SAMPLES_PER_BATCH": 2}}
        it = iter(voxload.Loader(cfg, mode="train", seed=1))
        for _ in range(5):
            next(it)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            n += next(it)["image"].shape[0]
        return n / (time.perf_counter() - t0)
    figures = {"raw": [], "blosc_lz4": []}
    for _ in range(rounds):
        for name in figures:
            figures[name].append(samples_per_s(d / f"{name}.zarr"))
    base = float(np.median(figures["raw"]))
    for name, v in figures.items():
        m = float(np.median(v))
        out.append(dict(part="loader", array=name, samples_per_s=m, ratio=m / base))
        print(f"| {name} | {m:.1f} | {m / base:.2f} |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=Path("target/bench-data/formats"))
    p.add_argument("--voxload", default="target/release/voxload")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path)
    p.add_argument("--parts", default="compressed,raw,loader")
    a = p.parse_args()
    make_data(a.dir, a.voxload)
    out = []
    parts = a.parts.split(",")
    print(f"tensorstore {ts.__version__ if hasattr(ts, '__version__') else ''}, "
          f"{os.cpu_count()} cores, {a.rounds} rounds of {a.seconds} s, medians")
    if "compressed" in parts:
        compressed(a.dir, a.seconds, a.rounds, out)
    if "raw" in parts:
        raw_paths(a.dir, a.seconds, a.rounds, out)
    if "loader" in parts:
        loader(a.dir, a.seconds * 2, a.rounds, out)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
