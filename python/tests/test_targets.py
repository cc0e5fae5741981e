"""Learning targets in Python batches against scipy: PyTC's semantic distance transform
(target option 6, 2D and 3D) from scipy.ndimage.distance_transform_edt, binary foreground and
its ratio weight, with the valid mask and augmentation on."""

import json

import numpy as np
from scipy.ndimage import distance_transform_edt

import voxload


def edt_term(mask, sampling, alpha):
    if mask.all():
        return np.full(mask.shape, 5.0)
    return distance_transform_edt(mask, sampling=sampling) / alpha


def semantic_distance(label, mode, fore_alpha=8.0, back_alpha=50.0):
    fore, back = label != 0, label == 0
    if mode == "3d":
        d = edt_term(fore, (6.0, 1.0, 1.0), fore_alpha) - edt_term(back, (6.0, 1.0, 1.0), back_alpha)
    else:
        d = np.stack([edt_term(fore[z], (1.0, 1.0), fore_alpha) - edt_term(back[z], (1.0, 1.0), back_alpha)
                      for z in range(label.shape[0])])
    return np.tanh(d)


def loader(dataset, targets, weights):
    _, config = dataset
    config = json.loads(json.dumps(config))
    config["MODEL"].update({"TARGET_OPT": targets, "WEIGHT_OPT": weights})
    return voxload.Loader(config, seed=3, samples=6)


def test_semantic_distance_transforms_equal_scipy(dataset):
    for batch in loader(dataset, ["6-3d-8-50", "6"], [["0"], ["0"]]):
        assert batch["target_0"].shape == batch["label"].shape  # (B, 1, D, H, W)
        for i, label in enumerate(batch["label"][:, 0]):
            np.testing.assert_allclose(batch["target_0"][i, 0], semantic_distance(label, "3d"),
                                       rtol=0, atol=2e-6)
            np.testing.assert_allclose(batch["target_1"][i, 0], semantic_distance(label, "2d"),
                                       rtol=0, atol=2e-6)


def ratio_weight(target):
    """PyTC's binary-ratio weight of a (1, D, H, W) target without a mask, from its formula."""
    fg = (target != 0).astype(np.float64)
    if fg.max() == fg.min():
        return np.ones_like(target)
    ww = float(np.clip(fg.mean(), 0.05, 0.95))
    factor = max(ww, 1 - ww) / min(ww, 1 - ww)
    heavy = 1 - fg if ww > 1 - ww else fg
    return (factor * heavy + (1 - heavy)).astype(np.float32)


def test_binary_target_and_ratio_weight_follow_the_augmented_label(dataset):
    for batch in loader(dataset, ["0"], [["1"]]):
        label, target, weight = batch["label"], batch["target_0"], batch["weight_0_0"]
        np.testing.assert_array_equal(target, (label > 0).astype(np.float32))
        for i in range(len(label)):
            np.testing.assert_allclose(weight[i], ratio_weight(target[i]), rtol=1e-6)
