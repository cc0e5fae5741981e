"""python/examples/train_unet.py, shortened: the loss falls and the blended prediction of the
held-out volume beats a trivial predictor's Dice."""

import importlib.util
import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_unet.py"


def test_train_unet_example_learns(tmp_path):
    spec = importlib.util.spec_from_file_location("train_unet", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--out", str(tmp_path), "--steps", "80", "--train-shape", "32,128,128",
                           "--test-shape", "24,96,96", "--quiet"])
    assert result["loss_last"] < 0.9 * result["loss_first"], result
    # Predicting everything as foreground is the best trivial predictor (nothing scores 0).
    assert result["dice"] > result["dice_all_foreground"] + 0.2, result
    # Nothing is written outside --out.
    assert (tmp_path / "em.zarr" / "test" / "pred" / "zarr.json").exists()
