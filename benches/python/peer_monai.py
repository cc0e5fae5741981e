"""voxload against what a Python user would otherwise pick, measured in one run: a PyTorch
``DataLoader`` with two worker processes over a map-style dataset that reads the same random
windows with zarr-python and augments them with MONAI.

The peer (``ZarrMonaiDataset``), per sample:

- draws a window of voxload's sample size (the augmentor's enlarged window, e.g.
  (10, 370, 370) for (8, 256, 256) inputs) uniformly in the volume padded by ``PAD_SIZE``, as
  PyTC and voxload do; reads the part inside the volume with zarr-python and fills the rest with
  ``numpy.pad(mode="reflect")``;
- rejection sampling as PyTC's: the label window is read first and a window whose central
  input-size region has fewer than ``SIZE_THRES`` foreground voxels is redrawn with probability
  ``P`` (at most ``NUM_TRIAL`` times); the image is read for the accepted window only;
- the MONAI transforms closest to PyTC's defaults, image (linear) and label (nearest) moved
  together: ``Rand3DElasticd`` (P 0.75, sigma 4, magnitude 16, as PyTC's ELASTIC alpha 16 /
  sigma 4; it also crops the centre to the input size), ``RandRotate90d`` in y-x (P 1, as
  ROTATE with ROT90), ``RandFlipd`` on each axis (P 0.5 each, as FLIP), and for GRAYSCALE
  (P 0.75) ``RandScaleIntensityd`` (contrast 0.3), ``RandShiftIntensityd`` (brightness 0.3) and
  ``RandAdjustContrastd`` (gamma 0.5-2).

It does less than voxload's chain, never more: RESCALE and the EM defect transforms
(MISSINGPARTS, MISSINGSECTION, MISALIGNMENT, MOTIONBLUR, CUTBLUR, CUTNOISE) have no MONAI
counterpart here, rot90 and flips run on the cropped output, and MONAI's metadata tracking is
off. Randomness comes from the sample's index, as voxload's does.

voxload's side is the ``VolumeDataset`` loop of loader_overhead.py (one process, voxload's two
worker threads). Both run with the same config, batch size, window, seconds and touch (the
image's sum), in alternating rounds; memory is sampled over each run's processes (the peer's
main process and its workers).

Usage: python benches/python/peer_monai.py --voxload target/release/voxload
       [--rounds 3] [--seconds 20]
(``--child monai --window D,H,W`` is how the driver starts the peer's measurement.)
"""

import common  # first: sets up sys.path

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

HERE = Path(__file__).resolve().parent


def monai_transforms(input_size):
    """The MONAI chain closest to PyTC's default augmentation (see the module's text)."""
    from monai.transforms import (Compose, Rand3DElasticd, RandAdjustContrastd, RandFlipd,
                                  RandRotate90d, RandScaleIntensityd, RandShiftIntensityd)

    keys = ["image", "label"]
    return Compose([
        Rand3DElasticd(keys=keys, sigma_range=(4, 4), magnitude_range=(16, 16), prob=0.75,
                       spatial_size=tuple(input_size), mode=("bilinear", "nearest"),
                       padding_mode="reflection"),
        RandRotate90d(keys=keys, prob=1.0, max_k=3, spatial_axes=(1, 2)),
        RandFlipd(keys=keys, prob=0.5, spatial_axis=0),
        RandFlipd(keys=keys, prob=0.5, spatial_axis=1),
        RandFlipd(keys=keys, prob=0.5, spatial_axis=2),
        RandScaleIntensityd(keys="image", factors=0.3, prob=0.75),
        RandShiftIntensityd(keys="image", offsets=0.3, prob=0.75),
        RandAdjustContrastd(keys="image", gamma=(0.5, 2.0), prob=0.75),
    ])


class ZarrMonaiDataset(Dataset):
    """Random training windows of a Zarr v3 store read with zarr-python, rejection-sampled and
    augmented with MONAI; item ``i`` is the same sample in any worker."""

    def __init__(self, store, window, input_size, pad, seed, size_thres, p, num_trial, length=10**9):
        self.store = str(store)
        self.window = tuple(window)
        self.input_size = tuple(input_size)
        self.pad = tuple(pad)
        self.seed = seed
        self.size_thres = size_thres
        self.p = p
        self.num_trial = num_trial
        self.length = length
        self.transforms = monai_transforms(input_size)
        self._arrays = None  # opened in each worker process, after the fork

    def __len__(self):
        return self.length

    def _open(self):
        if self._arrays is None:
            import zarr

            root = zarr.open_group(self.store, mode="r")
            self._arrays = root["image"], root["label"]
        return self._arrays

    def _read(self, array, start):
        """The window at ``start`` (negative or past the end where padded): the part inside the
        volume from zarr, the rest mirrored as numpy.pad's reflect."""
        lo = [max(0, s) for s in start]
        hi = [min(n, s + w) for s, w, n in zip(start, self.window, array.shape)]
        block = array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        widths = [(l - s, s + w - h) for s, w, l, h in zip(start, self.window, lo, hi)]
        if any(a or b for a, b in widths):
            block = np.pad(block, widths, mode="reflect")
        return block

    def __getitem__(self, index):
        return self.sample(index)

    def sample(self, index, times=None):
        """Sample ``index``; with a dict ``times``, adds the seconds spent in each stage to it
        (label reads and counts, the image read, each transform by name)."""
        clock = [time.perf_counter()]

        def lap(stage):
            if times is not None:
                now = time.perf_counter()
                times[stage] = times.get(stage, 0.0) + now - clock[0]
                clock[0] = now

        image_array, label_array = self._open()
        rng = np.random.default_rng([self.seed, index])
        shape = image_array.shape
        # The central input-size region is what rejection counts, as in PyTC (and voxload).
        centre = tuple(slice((w - i) // 2, (w - i) // 2 + i) for w, i in zip(self.window, self.input_size))
        for trial in range(self.num_trial + 1):
            start = [int(rng.integers(-p, n + p - w + 1)) for n, w, p in zip(shape, self.window, self.pad)]
            label = self._read(label_array, start)
            if (self.size_thres <= 0 or trial == self.num_trial
                    or np.count_nonzero(label[centre]) >= self.size_thres or rng.random() >= self.p):
                break
        lap("label reads (rejection included)")
        image = self._read(image_array, start)
        lap("image read")
        data = {"image": torch.from_numpy(image.astype(np.float32) / 255)[None],
                "label": torch.from_numpy(label.astype(np.int32))[None]}
        lap("to float32 / int32 tensors")
        self.transforms.set_random_state(seed=int(rng.integers(2**31)))
        if times is None:
            data = self.transforms(data)
        else:
            for t in self.transforms.transforms:
                data = t(data)
                lap(type(t).__name__)
        return {"image": torch.as_tensor(data["image"]), "label": torch.as_tensor(data["label"]),
                "rejections": trial}


def child_breakdown(samples, window):
    """Where the peer's time goes: ``samples`` samples made one after another in this process
    (one thread, no DataLoader), seconds per sample by stage; one JSON line."""
    from monai.data import set_track_meta

    set_track_meta(False)
    torch.set_num_threads(1)
    ds = ZarrMonaiDataset(common.STORE, window, common.INPUT, common.PAD, common.SEED,
                          common.SIZE_THRES, common.REJECT_P, common.NUM_TRIAL)
    ds.sample(10**6)  # opens the arrays, first-use costs
    times = {}
    t = time.perf_counter()
    for i in range(samples):
        ds.sample(i, times)
    total = time.perf_counter() - t
    return {"samples": samples, "ms_per_sample": 1e3 * total / samples,
            "stages_ms": {k: 1e3 * v / samples for k, v in times.items()}}


def child_monai(seconds, window):
    """The peer's measurement; one JSON line."""
    from monai.data import set_track_meta

    set_track_meta(False)
    torch.set_num_threads(1)
    ds = ZarrMonaiDataset(common.STORE, window, common.INPUT, common.PAD, common.SEED,
                          common.SIZE_THRES, common.REJECT_P, common.NUM_TRIAL)
    loader = DataLoader(ds, batch_size=common.BATCH, num_workers=common.WORKERS, shuffle=False)
    rejected = []
    shapes = {}

    def size(batch):
        rejected.append(int(batch["rejections"].sum()))
        shapes.setdefault("image", list(batch["image"].shape))
        shapes.setdefault("label", list(batch["label"].shape))
        return batch["image"].shape[0]

    result = common.stream(loader, seconds, touch=lambda b: float(b["image"].sum()), size=size,
                           min_warm_batches=common.WORKERS)
    result["rejected_per_accepted"] = sum(rejected) / max(result["samples"], 1)
    result["touch_share"] = result["touch_s"] / result["seconds"]
    result["batch_shapes"] = shapes
    del result["touched"]
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxload", help="the voxload binary (for `voxload bench augment`)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--breakdown", type=int, default=16,
                        help="samples of the peer timed stage by stage in one process (0: none)")
    parser.add_argument("--child", choices=["monai", "breakdown"])
    parser.add_argument("--window", help="D,H,W of the windows the peer reads")
    args = parser.parse_args()
    if args.child:
        window = [int(v) for v in args.window.split(",")]
        out = child_monai(args.seconds, window) if args.child == "monai" else child_breakdown(args.breakdown, window)
        print(json.dumps(out))
        return
    if not args.voxload:
        parser.error("--voxload is required")

    overhead = str(HERE / "loader_overhead.py")
    shapes = json.loads(subprocess.run([sys.executable, overhead, "--child", "window"], check=True,
                                       capture_output=True, text=True).stdout.splitlines()[-1])
    window = shapes["window"]
    import monai
    import zarr

    print(f"MONAI peer: {common.machine_line()}")
    print(f"config {common.CONFIG}; windows {window} -> inputs {shapes['input']}, batch {common.BATCH}; "
          f"torch {torch.__version__}, monai {monai.__version__}, zarr {zarr.__version__}, numpy {np.__version__}")
    print(f"{args.rounds} rounds of {args.seconds:g} s per case (after the warm-up)")
    common.warm_store()
    argv = {
        "monai": [sys.executable, __file__, "--child", "monai", "--seconds", str(args.seconds),
                  "--window", ",".join(map(str, window))],
        "voxload": [sys.executable, overhead, "--child", "dataset", "--seconds", str(args.seconds)],
    }
    cases = ["monai", "voxload"]
    runs = {c: [] for c in cases}
    for r, order in enumerate(common.rotations(cases, args.rounds)):
        for case in order:
            result = common.run_child(argv[case])
            result["load_after"] = os.getloadavg()[0]
            runs[case].append(result)
            print(f"  round {r + 1} {case:8} {result['samples_per_s']:7.2f} samples/s, "
                  f"peak RSS {result['peak_rss_mib']:6.0f} MiB (anon {result['peak_anon_mib']:5.0f}, "
                  f"main process {result['peak_main_anon_mib']:4.0f}, store {result['peak_store_mib']:4.0f}, "
                  f"PSS {result['peak_pss_mib']:5.0f}), "
                  f"{result['processes']} process(es), load {result['load_after']:.2f}", flush=True)

    names = {
        "monai": f"PyTorch `DataLoader(num_workers={common.WORKERS})`, zarr-python + MONAI",
        "voxload": f"voxload `VolumeDataset` ({common.WORKERS} worker threads)",
    }
    med = lambda c, k: common.median_range([x[k] for x in runs[c]])[0]  # noqa: E731
    print()
    print("| loader | processes | samples/s, median (range) | rejected per accepted "
          "| peak RSS MiB, all processes | of it anonymous | of it mapped store files | PSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in cases:
        print(f"| {names[c]} | {runs[c][0]['processes']} | {common.fmt([x['samples_per_s'] for x in runs[c]], 2)} | "
              f"{med(c, 'rejected_per_accepted'):.2f} | {med(c, 'peak_rss_mib'):.0f} | "
              f"{med(c, 'peak_anon_mib'):.0f} | {med(c, 'peak_store_mib'):.0f} | {med(c, 'peak_pss_mib'):.0f} |")
    speed = [v["samples_per_s"] / m["samples_per_s"] for v, m in zip(runs["voxload"], runs["monai"])]
    memory = {k: [v[k] / m[k] for v, m in zip(runs["voxload"], runs["monai"])]
              for k in ("peak_rss_mib", "peak_anon_mib", "peak_pss_mib")}
    print()
    print(f"samples/s, voxload / peer per round: {common.fmt(speed, 1, 'x')} (target >= 10x: "
          f"{'met' if common.median_range(speed)[0] >= 10 else 'not met'})")
    for k, label in (("peak_rss_mib", "RSS"), ("peak_anon_mib", "anonymous RSS"), ("peak_pss_mib", "PSS")):
        m = common.median_range(memory[k])[0]
        print(f"memory ({label}), voxload / peer per round: {common.fmt(memory[k], 2)} "
              f"(target <= 0.25: {'met' if m <= 0.25 else 'not met'})")
    record = {"machine": common.machine_line(), "config": common.CONFIG_DICT, "window": window,
              "rounds": args.rounds, "seconds": args.seconds, "runs": runs, "speed_ratio": speed,
              "memory_ratio": memory}
    if args.breakdown > 0:
        # Why: the peer's time per sample by stage, one thread, beside voxload's whole default
        # chain on one thread (`voxload bench augment`), measured right after.
        window_arg = ",".join(map(str, window))
        peer = json.loads(subprocess.run(
            [sys.executable, __file__, "--child", "breakdown", "--breakdown", str(args.breakdown),
             "--window", window_arg], check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        augment = json.loads(subprocess.run(
            [args.voxload, "bench", "augment", "--config", str(common.CONFIG), "--seconds", "5", "--json"],
            check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print()
        print(f"One thread, one sample after another ({args.breakdown} peer samples; "
              f"`voxload bench augment` for voxload's chain):")
        print()
        print("| stage of the peer | ms per sample |")
        print("|---|---:|")
        for stage, ms in peer["stages_ms"].items():
            print(f"| {stage} | {ms:.1f} |")
        print(f"| **whole peer sample** | **{peer['ms_per_sample']:.1f}** |")
        print(f"| voxload: PyTC's whole default chain, {augment['sample_size']} -> {augment['input_size']}, "
              f"{augment['targets']} targets | {augment['ms_per_sample']:.1f} |")
        record.update(breakdown=peer, voxload_augment=augment)
    common.save("peer_monai", record)


if __name__ == "__main__":
    main()
