"""Per-sample time of batchgenerators' SpatialTransform, single thread (timing only).

Elastic deformation + rotation + scaling with linear interpolation for the image (order_data=1)
and nearest for the mask (order_seg=0), zero outside (border_mode 'constant'), a (8, 256, 256)
patch cut from the centre of a (10, 370, 370) float32 image and uint16 mask: the work voxload's
Elastic + Rotate (any angle) + Rescale do for a (8, 256, 256) output. The rotation is in the
y-x plane only (batchgenerators' angle_x, axes 1 and 2), U(0, 2*pi), the scale U(0.8, 1.25),
the elastic field smoothed with sigma 4 (PyTC's SIGMA) and scaled by alpha 16.

Usage: python batchgenerators_augment.py [--samples N] [--warmup W]
Prints one line per figure: `batchgenerators_spatial_ms min=... median=... mean=...`.
Set OMP_NUM_THREADS=1 (the bench script does) so that numpy/scipy stay on one thread.
"""

import argparse
import statistics
import time

import numpy as np
from batchgenerators.transforms.spatial_transforms import SpatialTransform


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    np.random.seed(args.seed)
    shape = (1, 1, 10, 370, 370)
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape[2:]), indexing="ij")
    image = (((z * 31 + y * 7 + x * 3 + (y * x) % 13) % 251) / 250.0).astype(np.float32)
    mask = ((z // 3) * 100 + (y // 20) * 10 + x // 20).astype(np.uint16)
    image = image.reshape(shape)
    mask = mask.reshape(shape)

    transform = SpatialTransform(
        patch_size=(8, 256, 256),
        patch_center_dist_from_border=None,
        do_elastic_deform=True,
        alpha=(16.0, 16.0),
        sigma=(4.0, 4.0),
        do_rotation=True,
        angle_x=(0.0, 2.0 * np.pi),
        angle_y=(0.0, 0.0),
        angle_z=(0.0, 0.0),
        do_scale=True,
        scale=(0.8, 1.25),
        border_mode_data="constant",
        border_cval_data=0,
        order_data=1,
        border_mode_seg="constant",
        border_cval_seg=0,
        order_seg=0,
        random_crop=False,
        p_el_per_sample=1.0,
        p_scale_per_sample=1.0,
        p_rot_per_sample=1.0,
    )

    times = []
    for i in range(args.warmup + args.samples):
        # Fresh copies, prepared outside the timed region (the loader hands over fresh windows).
        batch = {"data": image.copy(), "seg": mask.copy()}
        start = time.perf_counter()
        out = transform(**batch)
        elapsed = time.perf_counter() - start
        assert out["data"].shape == (1, 1, 8, 256, 256), out["data"].shape
        assert out["seg"].shape == (1, 1, 8, 256, 256), out["seg"].shape
        if i >= args.warmup:
            times.append(elapsed * 1e3)
    print(
        "batchgenerators_spatial_ms min={:.3f} median={:.3f} mean={:.3f} samples={}".format(
            min(times), statistics.median(times), statistics.fmean(times), len(times)
        )
    )


if __name__ == "__main__":
    main()
