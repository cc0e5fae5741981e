"""Train a small 3D U-Net on a synthetic EM-like volume with voxload as the data path, then
blend grid predictions of a held-out volume back with voxload.PredictionWriter and print the
foreground Dice against its label.

    pip install ./python[torch]
    python python/examples/train_unet.py                 # about 2-4 minutes on 2 CPU cores
    python python/examples/train_unet.py --steps 60      # a quick look

What it shows:
  * voxload.ingest turning a list of PNG slices into Zarr arrays (image and label);
  * a PyTC-style configuration (dict) with rejection sampling and the default augmentation,
    streamed as torch tensors by voxload.torch.VolumeDataset (no DataLoader workers needed);
  * grid inference (PyTC's test mode) and voxload.PredictionWriter blending the overlapping
    windows with PyTC's gaussian weights.

The data are made here, with numpy: bright textured cytoplasm, dark membrane-like bands and
dark round "mitochondria" (the foreground to segment), blurred and noisy. Everything is
written under --out (default ./train_unet_out).
"""

import argparse
import json
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import voxload
from voxload.torch import VolumeDataset

# -- synthetic data -----------------------------------------------------------------------


def synthesise(shape, seed, objects):
    """An EM-like uint8 volume and its uint8 foreground label."""
    rng = np.random.default_rng(seed)
    d, h, w = shape
    z, y, x = np.meshgrid(np.arange(d), np.arange(h), np.arange(w), indexing="ij")
    label = np.zeros(shape, bool)
    for _ in range(objects):
        c = rng.uniform([0, 0, 0], shape)
        r = rng.uniform(4, 10, size=3) * np.array([0.6, 1.0, 1.0])
        label |= ((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2 <= 1
    texture = np.sin(x * 0.21 + z * 0.3) * np.cos(y * 0.17 - x * 0.05)
    membranes = np.abs(np.sin(x * 0.045 + np.sin(y * 0.03) * 2.0 + z * 0.02)) < 0.08
    image = 170.0 + 18.0 * texture - 70.0 * membranes - 95.0 * label
    # A little blur (box average along each axis) and noise, as in real micrographs.
    for axis in range(3):
        image = (np.roll(image, 1, axis) + image + np.roll(image, -1, axis)) / 3.0
    image += rng.normal(0, 14, size=shape)
    return np.clip(image, 0, 255).astype(np.uint8), label.astype(np.uint8)


def write_png(path, plane):
    """An 8-bit grayscale PNG (no dependency beyond zlib)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    h, w = plane.shape
    rows = b"".join(b"\x00" + plane[i].tobytes() for i in range(h))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def ingest_volume(volume, folder, store, array, label):
    """Writes `volume` as PNG slices plus a .txt list, and ingests the list into `array`."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, plane in enumerate(volume):
        paths.append(os.path.join(folder, f"{i:04d}.png"))
        write_png(paths[-1], plane)
    listing = folder + ".txt"
    with open(listing, "w") as f:
        f.write("\n".join(paths) + "\n")
    voxload.ingest(listing, store, array=array, label=label, chunk=(16, 64, 64),
                   overwrite=True, progress=False)


# -- the model ----------------------------------------------------------------------------


def block(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout),
                         nn.ReLU(inplace=True), nn.Conv3d(cout, cout, 3, padding=1),
                         nn.GroupNorm(4, cout), nn.ReLU(inplace=True))


class UNet3D(nn.Module):
    """Two down-sampling levels (the first in-plane only, as EM is anisotropic)."""

    def __init__(self, width=8):
        super().__init__()
        c = width
        self.enc1, self.enc2, self.mid = block(1, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.up2 = nn.ConvTranspose3d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = block(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose3d(2 * c, c, (1, 2, 2), stride=(1, 2, 2))
        self.dec1 = block(2 * c, c)
        self.out = nn.Conv3d(c, 1, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool3d(e1, (1, 2, 2)))
        m = self.mid(F.max_pool3d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.out(d1)


def loss_fn(logits, target):
    """Binary cross-entropy plus soft Dice (the foreground is a small fraction)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    return bce + dice


def dice(pred, truth):
    inter = np.logical_and(pred, truth).sum()
    return 2.0 * inter / max(pred.sum() + truth.sum(), 1)


# -- the run ------------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="train_unet_out", help="folder for the data and outputs")
    p.add_argument("--steps", type=int, default=300, help="training steps")
    p.add_argument("--train-shape", default="48,160,160", help="training volume D,H,W")
    p.add_argument("--test-shape", default="32,128,128", help="held-out volume D,H,W")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    out = os.path.abspath(args.out)
    store = os.path.join(out, "em.zarr")
    t0 = time.time()

    volumes = {}
    for split, shape, seed in (("train", args.train_shape, 1), ("test", args.test_shape, 2)):
        shape = tuple(int(v) for v in shape.split(","))
        objects = max(int(np.prod(shape) / 12000), 4)
        image, label = synthesise(shape, args.seed * 100 + seed, objects)
        ingest_volume(image, os.path.join(out, "png", f"{split}-image"), store, f"{split}/image", False)
        ingest_volume(label, os.path.join(out, "png", f"{split}-label"), store, f"{split}/label", True)
        volumes[split] = label
        say(f"{split}: {shape}, foreground {label.mean():.1%}")

    # A PyTC-style configuration: rejection sampling (windows with at least 400 foreground
    # voxels, 90 % of the others rejected), the default augmentation, 16x64x64 windows.
    config = {
        "DATASET": {"INPUT_PATH": store, "IMAGE_NAME": "train/image", "LABEL_NAME": "train/label",
                    "PAD_SIZE": [4, 16, 16],
                    "REJECT_SAMPLING": {"SIZE_THRES": 400, "P": 0.9}},
        "MODEL": {"INPUT_SIZE": [16, 64, 64]},
        "AUGMENTOR": {"ENABLED": True},
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
        "INFERENCE": {"STRIDE": [8, 32, 32]},
        "SYSTEM": {"NUM_CPUS": 1},
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    model = UNet3D()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for step, batch in enumerate(VolumeDataset(config, mode="train", seed=args.seed)):
        if step == args.steps:
            break
        target = (batch["label"] > 0).float()
        loss = loss_fn(model(batch["image"]), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 25 == 0 or step == args.steps - 1:
            say(f"step {step:4d}  loss {np.mean(losses[-25:]):.3f}  ({time.time() - t0:.0f} s)")

    # Grid inference over the held-out volume, blended back by voxload.
    test = json.loads(json.dumps(config))
    test["DATASET"].update({"IMAGE_NAME": "test/image", "LABEL_NAME": "test/label"})
    model.eval()
    grid = VolumeDataset(test, mode="grid")
    with voxload.PredictionWriter(store, "test/pred", grid, overwrite=True) as writer, torch.no_grad():
        for batch in grid:
            writer.add(batch, torch.sigmoid(model(batch["image"])))
    pred = voxload.read_prediction(store, "test/pred")[0] > 0.5
    truth = volumes["test"] > 0
    window = max(len(losses) // 10, 1)
    result = {
        "loss_first": float(np.mean(losses[:window])),
        "loss_last": float(np.mean(losses[-window:])),
        "dice": float(dice(pred, truth)),
        "dice_all_foreground": float(dice(np.ones_like(truth), truth)),
        "seconds": time.time() - t0,
    }
    say(f"loss {result['loss_first']:.3f} -> {result['loss_last']:.3f}; foreground Dice on the "
        f"held-out volume {result['dice']:.3f} (predicting everything foreground: "
        f"{result['dice_all_foreground']:.3f}); {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
