"""The Python ingest that voxload's `ingest` is compared with: the same tile JSON decoded with
Pillow on a thread pool, assembled slab by slab with numpy and written with zarr-python 3 into
raw chunks of the same shape.

Usage: python python_ingest.py TILES.json OUT.zarr [--chunk 32,256,256] [--threads 2]
Prints one JSON object: seconds, bytes_per_s (bytes of volume written).
"""

import argparse
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import zarr
from PIL import Image


def main():
    p = argparse.ArgumentParser()
    p.add_argument("spec")
    p.add_argument("out")
    p.add_argument("--chunk", default="32,256,256")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    chunk = tuple(int(v) for v in a.chunk.split(","))
    spec = json.load(open(a.spec))
    base = os.path.dirname(os.path.abspath(a.spec))
    d, h, w = spec["depth"], spec["height"], spec["width"]
    t = spec["tile_size"]
    th, tw = (t, t) if isinstance(t, int) else t
    shutil.rmtree(a.out, ignore_errors=True)
    zarr.config.set({"threading.max_workers": a.threads})
    arr = zarr.create_array(a.out, name="image", shape=(d, h, w), chunks=chunk, dtype=spec["dtype"],
                            compressors=None, fill_value=0, zarr_format=3)
    start = time.perf_counter()

    def load(job):
        z, row, col = job
        path = os.path.join(base, spec["image"][z].format(row=row, column=col))
        return job, np.asarray(Image.open(path))

    with ThreadPoolExecutor(a.threads) as pool:
        for z0 in range(0, d, chunk[0]):
            z1 = min(z0 + chunk[0], d)
            slab = np.zeros((z1 - z0, h, w), dtype=spec["dtype"])
            jobs = [(z, r, c) for z in range(z0, z1) for r in range(-(-h // th)) for c in range(-(-w // tw))]
            for (z, r, c), tile in pool.map(load, jobs):
                y, x = r * th, c * tw
                slab[z - z0, y:y + tile.shape[0], x:x + tile.shape[1]] = tile[: h - y, : w - x]
            arr[z0:z1] = slab
    seconds = time.perf_counter() - start
    nbytes = d * h * w * np.dtype(spec["dtype"]).itemsize
    print(json.dumps({"tool": "python (Pillow + zarr-python)", "zarr": zarr.__version__,
                      "threads": a.threads, "seconds": seconds, "bytes_per_s": nbytes / seconds}))


if __name__ == "__main__":
    main()
