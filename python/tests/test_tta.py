"""Test-time augmentation (PyTC's INFERENCE.AUG_NUM / AUG_MODE): the grid loader delivers each
batch of windows once per variant in PyTC's order, each variant equal to numpy's flips and
transposes of the plain window; the writer undoes and combines them, so an identity model gives
back exactly what it gives without test-time augmentation."""

import itertools
import json

import numpy as np
import pytest
import zarr

import voxload


def tta_config(dataset, num, mode="mean", two_d=False):
    d, config = dataset
    config = json.loads(json.dumps(config))
    config["INFERENCE"] = {"STRIDE": [3, 12, 10], "AUG_NUM": num, "AUG_MODE": mode}
    config["DATASET"]["MATCH_ACT"] = "sigmoid"
    if two_d:
        config["DATASET"]["DO_2D"] = True
        config["MODEL"]["INPUT_SIZE"] = [24, 24]
        config["INFERENCE"]["STRIDE"] = [12, 10]
    return d, config


def pytc_variants(num, two_d):
    """PyTC's TestAugmentor enumeration: itertools.product over (x, y, z, transpose) flags."""
    b, f = (False, True), (False,)
    if two_d:
        opts = {None: (f, f, f), 4: (b, b, f)}.get(num, (b, b, b))
        return [(x, y, False, t) for x, y, t in itertools.product(*opts)]
    opts = {None: (f, f, f, f), 4: (b, b, f, f), 8: (b, b, f, b), 16: (b, b, b, b)}[num]
    return list(itertools.product(*opts))


def forward(volume, x, y, z, t, two_d):
    """What PyTC feeds the model for one variant, on (B, C, [D,] H, W)."""
    ax = volume.ndim - 1
    if x:
        volume = np.flip(volume, ax)
    if y:
        volume = np.flip(volume, ax - 1)
    if z and not two_d:
        volume = np.flip(volume, 2)
    if t:
        volume = np.swapaxes(volume, ax - 1, ax)
    return volume


@pytest.mark.parametrize("num,two_d", [(4, False), (8, False), (16, False), (8, True), (16, True)])
def test_variants_in_pytc_order_equal_numpy_flips(dataset, num, two_d):
    _, config = tta_config(dataset, num, two_d=two_d)
    plain_config = json.loads(json.dumps(config))
    plain_config["INFERENCE"].pop("AUG_NUM")
    plain = list(voxload.Loader(plain_config, mode="grid"))
    loader = voxload.Loader(config, mode="grid")
    count = len(loader)
    batches = list(loader)
    variants = pytc_variants(num, two_d)
    assert len(batches) == count == len(plain) * len(variants)
    for k, batch in enumerate(batches):
        group, v = divmod(k, len(variants))
        x, y, z, t = variants[v]
        expected = forward(plain[group]["image"], x, y, z, t, two_d)
        np.testing.assert_array_equal(batch["image"], expected)
        for info, base in zip(batch["info"], plain[group]["info"]):
            assert info["index"] == base["index"] and info["start"] == base["start"]
            rec = [tr for tr in info["transforms"] if tr["name"] == "TestAugment"]
            assert rec == [{"name": "TestAugment", "variant": v, "flip_x": x, "flip_y": y,
                            "flip_z": z, "transpose": t}]


@pytest.mark.parametrize("num,mode,two_d", [(16, "mean", False), (8, "min", False),
                                            (4, "max", False), (8, "mean", True)])
def test_identity_model_gives_back_the_plain_prediction(dataset, tmp_path, num, mode, two_d):
    _, config = tta_config(dataset, num, mode, two_d)
    plain_config = json.loads(json.dumps(config))
    plain_config["INFERENCE"].pop("AUG_NUM")
    outputs = []
    for name, cfg in [("plain", plain_config), ("tta", config)]:
        loader = voxload.Loader(cfg, mode="grid")
        with voxload.PredictionWriter(tmp_path / "o.zarr", name, loader) as writer:
            for batch in loader:
                writer.add(batch, batch["image"])
        outputs.append(zarr.open_array(str(tmp_path / "o.zarr" / name), mode="r")[...])
    # Image values are in [0, 1], where PyTC's min/max starting values change nothing; the
    # mean of 4, 8 or 16 equal values is exact in float32.
    np.testing.assert_array_equal(outputs[1], outputs[0])


def test_combining_a_real_model_as_pytc(dataset, tmp_path):
    """A model that is not flip-equivariant: blending the variants' outputs equals blending,
    without test-time augmentation, PyTC's combination of them computed here with numpy."""
    _, config = tta_config(dataset, 8, "max")
    plain_config = json.loads(json.dumps(config))
    plain_config["INFERENCE"].pop("AUG_NUM")

    def model(x):  # position-dependent, so each variant gives a different undone output
        ramp = np.linspace(-0.5, 1.5, x.shape[-2], dtype=np.float32)[:, None]
        return x * ramp

    loader = voxload.Loader(config, mode="grid")
    with voxload.PredictionWriter(tmp_path / "o.zarr", "tta", loader) as writer:
        for batch in loader:
            writer.add(batch, model(batch["image"]))
    loader = voxload.Loader(plain_config, mode="grid")
    with voxload.PredictionWriter(tmp_path / "o.zarr", "pytc", loader) as writer:
        for batch in loader:
            out = np.zeros(batch["image"].shape, np.float32)  # PyTC's max starts from 0
            for x, y, z, t in pytc_variants(8, False):
                v = model(forward(batch["image"], x, y, z, t, False))
                if t:
                    v = np.swapaxes(v, 3, 4)
                if y:
                    v = np.flip(v, 3)
                if x:
                    v = np.flip(v, 4)
                out = np.maximum(out, v)
            writer.add(batch, out)
    got, expected = (zarr.open_array(str(tmp_path / "o.zarr" / n), mode="r")[...] for n in ("tta", "pytc"))
    assert not np.array_equal(got, plain_blend(plain_config, model, tmp_path))
    np.testing.assert_array_equal(got, expected)


def plain_blend(config, model, tmp_path):
    """The same model without test-time augmentation, to show the variants matter."""
    loader = voxload.Loader(config, mode="grid")
    with voxload.PredictionWriter(tmp_path / "o.zarr", "plain", loader) as writer:
        for batch in loader:
            writer.add(batch, model(batch["image"]))
    return zarr.open_array(str(tmp_path / "o.zarr" / "plain"), mode="r")[...]


def test_bad_tta_settings_are_config_errors(dataset, tmp_path):
    _, config = tta_config(dataset, 6)
    with pytest.raises(ValueError, match="AUG_NUM"):
        voxload.Loader(config, mode="grid")
    _, config = tta_config(dataset, 8, "median")
    with pytest.raises(ValueError, match="AUG_MODE"):
        voxload.Loader(config, mode="grid")
    _, config = tta_config(dataset, 8)
    config["MODEL"]["INPUT_SIZE"] = [4, 24, 16]
    with pytest.raises(ValueError, match="equal y and x"):
        voxload.Loader(config, mode="grid")
    # A writer fed batches without variants while the config has them: a clear error.
    _, plain = tta_config(dataset, 8)
    plain["INFERENCE"].pop("AUG_NUM")
    _, config = tta_config(dataset, 8)
    writer = voxload.PredictionWriter(tmp_path / "o.zarr", "p", voxload.Loader(config, mode="grid"))
    batch = next(iter(voxload.Loader(plain, mode="grid")))
    with pytest.raises(ValueError, match="no test-time variant"):
        writer.add(batch, batch["image"])
