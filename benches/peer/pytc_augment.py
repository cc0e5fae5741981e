"""Per-sample time of PyTorch Connectomics' (PyTC v1) own training augmentor, one thread.

What it measures
  * "full-chain": the augmentor PyTC's `build_train_augmentor(cfg)` builds from its default
    yacs config (`get_cfg_defaults()`), with MODEL.INPUT_SIZE set to each --size and the
    default additional target `label` of type `mask`. The call timed is PyTC's own
    `Compose.__call__(sample, random_state)`: every enabled transform with its default
    probability, PyTC's centre crop, then Flip (PyTC applies Flip after the crop).
  * "<Transform>" (Rotate, Rescale, Flip, Elastic, Grayscale, MissingParts, MissingSection,
    MisAlignment, MotionBlur, CutBlur, CutNoise): the same builder on the same defaults with
    every AUGMENTOR.* entry disabled except that one, whose P is set to 1.0, so PyTC's Compose
    holds that single transform and always applies it, followed by its crop. P is PyTC's own
    knob, so a transform that also uses P inside (MissingParts draws it per section) does
    that at 1.0 too. Skipped with --chain-only.
  Each Compose is fed what it asks for: an image and a label of its `sample_size` (larger
  than the input size when the transforms need a margin). The image is float32 in [0, 1],
  smoothed noise (EM-like); the label is uint16 with 20-voxel blocks. Every timed sample gets
  fresh copies (made outside the timed region) and a fresh `np.random.RandomState(seed + i)`,
  and `np.random` / `random` are reseeded with the same value, because two PyTC transforms
  draw from those module-level generators.

How PyTC is loaded
  PyTC's source (zudi-lin/pytorch_connectomics) must be on PYTHONPATH (or --pytc-src). Only
  `connectomics/config/defaults.py` and the files of `connectomics/data/augmentation/` are
  executed: the package `__init__` files, which pull in the whole dataset, model and engine
  stack (h5py, monai, tensorboard, ...), are bypassed by registering bare parent packages.
  If torch/torchvision cannot be imported, `copy_paste` (the one module the builder imports
  that needs them; COPYPASTE is disabled by default) is replaced by a stub that refuses to be
  constructed. Nothing else is altered; the timed code is PyTC's.

Run it through benches/run_pytc_augment_bench.sh (which sets up the venv, the source, one
thread and one core), or by hand:
  OMP_NUM_THREADS=1 PYTHONPATH=/tmp/pytc-src taskset -c 0 python3 benches/peer/pytc_augment.py \
      [--size 8,256,256 --size 17,225,225] [--samples 30] [--warmup 3] [--chain-only] [--json]
Prints one human-readable line per case; with --json, one JSON object on the last line:
  {"peer": "pytc", "commit": ..., "versions": {...}, "results": [{"case", "size", "median_ms",
   "min_ms", "mean_ms", "samples", "sample_size"}, ...]}
"""

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import os
import random
import statistics
import sys
import time
import types

import numpy as np

PYTC_COMMIT = "20ccfde6f85868351b00d7b795d4cf89a251d6be"
# AUGMENTOR entries in the order build_train_augmentor appends them, and the class each builds.
TRANSFORMS = [
    ("ROTATE", "Rotate"),
    ("RESCALE", "Rescale"),
    ("FLIP", "Flip"),
    ("ELASTIC", "Elastic"),
    ("GRAYSCALE", "Grayscale"),
    ("MISSINGPARTS", "MissingParts"),
    ("MISSINGSECTION", "MissingSection"),
    ("MISALIGNMENT", "MisAlignment"),
    ("MOTIONBLUR", "MotionBlur"),
    ("CUTBLUR", "CutBlur"),
    ("CUTNOISE", "CutNoise"),
]
PACKAGES = ["numpy", "scipy", "scikit-image", "opencv-python-headless", "yacs", "torch", "torchvision"]


def find_pytc_root(explicit):
    """The directory holding `connectomics/`, from --pytc-src or the first sys.path entry."""
    candidates = [explicit] if explicit else [p or os.getcwd() for p in sys.path]
    for root in candidates:
        if os.path.isfile(os.path.join(root, "connectomics", "data", "augmentation", "composition.py")):
            return os.path.abspath(root)
    sys.exit("pytc_augment.py: PyTC's source (connectomics/data/augmentation) is not on PYTHONPATH"
             + (f" nor at {explicit}" if explicit else ""))


def load_pytc(root):
    """Import PyTC's builder and default config without running the package __init__ files."""
    for name in ["connectomics", "connectomics.data", "connectomics.data.augmentation",
                 "connectomics.config"]:
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, *name.split("."))]
        module.__package__ = name
        sys.modules[name] = module
    torch_mode = "real"
    try:
        import torch
        import torchvision  # noqa: F401  (copy_paste needs it)
        torch.set_num_threads(1)
    except ImportError:
        torch_mode = "stubbed (torch not importable; copy_paste, disabled by default, not loadable)"
        stub = types.ModuleType("connectomics.data.augmentation.copy_paste")

        class CopyPasteAugmentor:  # only reached if AUGMENTOR.COPYPASTE.ENABLED were True
            def __init__(self, *args, **kwargs):
                raise RuntimeError("CopyPasteAugmentor needs torch, which is not installed")

        stub.CopyPasteAugmentor = CopyPasteAugmentor
        sys.modules[stub.__name__] = stub
    build = importlib.import_module("connectomics.data.augmentation.build")
    defaults = importlib.import_module("connectomics.config.defaults")
    return build.build_train_augmentor, defaults.get_cfg_defaults, torch_mode


def make_inputs(shape, seed):
    """float32 EM-like image in [0, 1] (smoothed noise) and uint16 labels in 20-voxel blocks."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.RandomState(seed)
    noise = rng.rand(*shape).astype(np.float32)
    image = gaussian_filter(noise, sigma=(0.5, 2.0, 2.0)) + 0.15 * noise
    image -= image.min()
    image /= image.max()
    z, y, x = np.meshgrid(*(np.arange(n) // 20 for n in shape), indexing="ij")
    blocks = np.array(shape) // 20 + 1
    label = (1 + (z * blocks[1] + y) * blocks[2] + x).astype(np.uint16)
    return image.astype(np.float32), label


def build(build_train_augmentor, cfg):
    # Compose prints its sample size on stdout; keep stdout for our own lines.
    with contextlib.redirect_stdout(sys.stderr):
        return build_train_augmentor(cfg)


def time_case(augmentor, size, args):
    image, label = make_inputs(tuple(int(n) for n in augmentor.sample_size), args.seed)
    times = []
    for i in range(args.warmup + args.samples):
        seed = args.seed + i
        sample = {"image": image.copy(), "label": label.copy()}
        np.random.seed(seed)
        random.seed(seed)
        random_state = np.random.RandomState(seed)
        start = time.perf_counter()
        out = augmentor(sample, random_state=random_state)
        elapsed = time.perf_counter() - start
        for key in ("image", "label"):
            if tuple(out[key].shape) != tuple(size):
                sys.exit(f"pytc_augment.py: {key} came out {out[key].shape}, expected {tuple(size)}")
        if i >= args.warmup:
            times.append(elapsed * 1e3)
    return {"min_ms": min(times), "median_ms": statistics.median(times),
            "mean_ms": statistics.fmean(times), "samples": len(times)}


def parse_size(text):
    size = [int(n) for n in text.split(",")]
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"--size wants D,H,W, got {text!r}")
    return size


def versions(torch_mode):
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["torch_import"] = torch_mode
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, action="append",
                        help="MODEL.INPUT_SIZE as D,H,W (repeatable; default 8,256,256 and 17,225,225)")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chain-only", action="store_true", help="skip the per-transform cases")
    parser.add_argument("--pytc-src", default=None, help="directory holding connectomics/ (else PYTHONPATH)")
    parser.add_argument("--commit", default=PYTC_COMMIT, help="PyTC commit the source is at (reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()
    sizes = args.size or [[8, 256, 256], [17, 225, 225]]

    import cv2

    cv2.setNumThreads(1)
    root = find_pytc_root(args.pytc_src)
    build_train_augmentor, get_cfg_defaults, torch_mode = load_pytc(root)
    vers = versions(torch_mode)
    print(f"PyTC {args.commit} from {root}; " + ", ".join(f"{k} {v}" for k, v in vers.items()))

    results = []
    for size in sizes:
        cfg = get_cfg_defaults()
        cfg.MODEL.INPUT_SIZE = list(size)
        cases = [("full-chain", cfg)]
        if not args.chain_only:
            for key, cls in TRANSFORMS:
                one = cfg.clone()
                for name, node in one.AUGMENTOR.items():
                    if hasattr(node, "ENABLED"):
                        node.ENABLED = name == key
                one.AUGMENTOR[key].P = 1.0
                cases.append((cls, one))
        for case, case_cfg in cases:
            augmentor = build(build_train_augmentor, case_cfg)
            built = [t.__class__.__name__ for t in augmentor.transforms]
            if augmentor.flip_aug is not None:
                built.append("Flip")
            if case != "full-chain" and built != [case]:
                sys.exit(f"pytc_augment.py: isolating {case} built {built}")
            if case == "full-chain" and sorted(built) != sorted(cls for _, cls in TRANSFORMS):
                sys.exit(f"pytc_augment.py: the default chain built {built}")
            stats = time_case(augmentor, size, args)
            row = {"case": case, "size": list(size), **stats,
                   "sample_size": [int(n) for n in augmentor.sample_size]}
            results.append(row)
            print("pytc {:<14} size={} sample_size={} min={:.3f} median={:.3f} mean={:.3f} ms samples={}".format(
                case, "x".join(map(str, size)), "x".join(map(str, row["sample_size"])),
                row["min_ms"], row["median_ms"], row["mean_ms"], row["samples"]), flush=True)

    if args.json:
        print(json.dumps({"peer": "pytc", "commit": args.commit, "versions": vers, "results": results}))


if __name__ == "__main__":
    main()
