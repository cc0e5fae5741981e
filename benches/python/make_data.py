"""Writes the Python benchmarks' store and configuration, once (reused while complete).

The store (``target/bench-data/python/em.zarr``) is the loader section's volume: a
(200, 1024, 1024) uint8 EM-like image written by ``voxload synth`` in the default raw chunks
(16, 256, 1024), and a uint16 label of spherical blobs (radius 10-40, each its own id) covering
1 % of the voxels, written by zarr-python in the same raw chunks. The configuration
(``config.json`` beside it) is ``common.CONFIG_DICT``.

Usage: python benches/python/make_data.py --voxload target/release/voxload
"""

import common  # first: sets up sys.path

import argparse
import json
import subprocess

import numpy as np
import zarr


def blobs(shape, fraction, seed):
    """A uint16 volume of random balls (radius 10-40, ids 1, 2, ...) until ``fraction`` of the
    voxels are foreground; later balls do not overwrite earlier ones."""
    rng = np.random.default_rng(seed)
    label = np.zeros(shape, np.uint16)
    target = fraction * label.size
    filled, ident = 0, 1
    while filled < target:
        r = int(rng.integers(10, 41))
        centre = [int(rng.integers(0, n)) for n in shape]
        lo = [max(0, c - r) for c in centre]
        hi = [min(n, c + r + 1) for c, n in zip(centre, shape)]
        z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        ball = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= r * r
        view = label[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        new = ball & (view == 0)
        view[new] = ident
        filled += int(new.sum())
        ident = ident % 65535 + 1
    return label


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxload", required=True, help="the voxload binary (for `voxload synth`)")
    args = parser.parse_args()
    description = {"volume": common.VOLUME, "chunk": common.CHUNK, "foreground": common.FOREGROUND,
                   "config": common.CONFIG_DICT}
    marker = common.DATA / "complete.json"
    if marker.exists() and json.loads(marker.read_text()) == json.loads(json.dumps(description)):
        print(f"bench data: {common.STORE} (reused)")
        return
    marker.unlink(missing_ok=True)
    common.DATA.mkdir(parents=True, exist_ok=True)
    triple = lambda t: ",".join(map(str, t))  # noqa: E731
    subprocess.run([args.voxload, "synth", str(common.STORE), "--array", "image",
                    "--volume", triple(common.VOLUME), "--chunk", triple(common.CHUNK)], check=True)
    label = blobs(common.VOLUME, common.FOREGROUND, seed=3)
    root = zarr.open_group(str(common.STORE), mode="a", zarr_format=3)
    array = root.create_array("label", shape=common.VOLUME, chunks=common.CHUNK, dtype="uint16",
                              compressors=None, filters=None, overwrite=True)
    array[...] = label
    print(f"wrote {common.STORE}/label: {np.count_nonzero(label) / label.size:.2%} foreground, "
          f"{len(np.unique(label)) - 1} blobs")
    common.CONFIG.write_text(json.dumps(common.CONFIG_DICT, indent=1) + "\n")
    marker.write_text(json.dumps(description))
    print(f"bench data: {common.STORE}, {common.CONFIG}")


if __name__ == "__main__":
    main()
