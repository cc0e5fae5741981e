"""PyTC-format YAML configurations from Python and the command line: base and task files
merged in order, test-mode overrides, and `voxload config --json`."""

import json
import subprocess

import pytest

import voxload
from conftest import voxload_bin


def yaml_files(dataset, tmp_path):
    d, config = dataset
    base = tmp_path / "base.yaml"
    base.write_text(f"""
SYSTEM:
  NUM_GPUS: 8
MODEL:
  ARCHITECTURE: unet_3d
  INPUT_SIZE: [8, 32, 32]
DATASET:
  INPUT_PATH: {d / 'em.zarr'}
  IMAGE_NAME: raw
  LABEL_NAME: seg
  PAD_SIZE: [2, 8, 8]
SOLVER:
  SAMPLES_PER_BATCH: 3
  BASE_LR: 1e-2
INFERENCE:
  STRIDE: [4, 24, 24]
  SAMPLES_PER_BATCH: 5
""")
    task = tmp_path / "task.yaml"
    task.write_text("MODEL:\n  INPUT_SIZE: [4, 24, 24]\nAUGMENTOR:\n  ENABLED: False\n")
    return base, task


def test_a_list_of_yaml_files_merges_in_order(dataset, tmp_path):
    base, task = yaml_files(dataset, tmp_path)
    batch = next(iter(voxload.Loader([base, task], samples=3)))
    assert batch["image"].shape == (3, 1, 4, 24, 24)
    assert batch["label"].shape == (3, 1, 4, 24, 24)
    batch = next(iter(voxload.Loader([str(task), str(base)], samples=3)))
    assert batch["image"].shape == (3, 1, 8, 32, 32)
    # Grid (test) mode: INFERENCE.SAMPLES_PER_BATCH, and no label, as in PyTC.
    grid = next(iter(voxload.Loader([base, task], mode="grid")))
    assert grid["image"].shape[0] == 5
    assert "label" not in grid


def test_typos_are_errors_naming_the_key_and_file(dataset, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("DATASET:\n  IMAGE_NAM: raw\n")
    with pytest.raises(voxload.ValueError, match="DATASET.IMAGE_NAME") as e:
        voxload.Loader(bad)
    assert "bad.yaml" in str(e.value)


def test_voxload_config_prints_the_merged_pytc_configuration(dataset, tmp_path):
    base, task = yaml_files(dataset, tmp_path)
    out = subprocess.run([voxload_bin(), "config", "--config", str(base), "--config", str(task),
                          "--mode", "test", "--json"], capture_output=True, text=True, check=True)
    cfg = json.loads(out.stdout)
    assert cfg["MODEL"]["INPUT_SIZE"] == [4, 24, 24]
    # PyTC's update_inference_cfg leaves SOLVER.SAMPLES_PER_BATCH; its test loader (and
    # voxload's grid) batches INFERENCE.SAMPLES_PER_BATCH windows.
    assert cfg["SOLVER"]["SAMPLES_PER_BATCH"] == 3
    assert cfg["INFERENCE"]["SAMPLES_PER_BATCH"] == 5
    assert cfg["SOLVER"]["BASE_LR"] == pytest.approx(0.01)
    assert cfg["MODEL"]["FILTERS"] == [28, 36, 48, 64, 80]  # a PyTC default no file sets
    assert "SYSTEM.NUM_GPUS" in cfg["VOXLOAD"]["unused"]
    assert any("LABEL_NAME" in w for w in cfg["VOXLOAD"]["warnings"])
    text = subprocess.run([voxload_bin(), "config", "--config", str(base)], capture_output=True,
                          text=True, check=True).stdout
    assert "not used by voxload" in text and "SYSTEM.NUM_GPUS" in text


def test_val_mode_walks_the_val_volumes_with_labels(dataset, tmp_path):
    d, config = dataset
    config = json.loads(json.dumps(config))
    config["DATASET"].update({"VAL_IMAGE_NAME": "raw", "VAL_LABEL_NAME": "seg"})
    loader = voxload.Loader(config, mode="val")
    batches = list(loader)
    # 4 x SOLVER.SAMPLES_PER_BATCH (3) windows of MODEL.INPUT_SIZE at half-window stride.
    assert batches[0]["image"].shape == (12, 1, 4, 24, 24)
    assert "label" in batches[0]
    starts = {tuple(i["start"]) for b in batches for i in b["info"]}
    assert (0, 0, 12) in starts and (2, 0, 0) in starts
    with pytest.raises(voxload.ValueError, match="VAL_IMAGE_NAME"):
        voxload.Loader(dataset[1], mode="val")
