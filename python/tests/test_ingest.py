"""voxload.ingest gives exactly the array the `ingest` command gives, reports what it did, and
fails with typed errors naming the file."""

import os
import subprocess

import numpy as np
import pytest
import zarr

import voxload


def binary(name):
    """A binary of this checkout beside `voxload` (scripts/test.sh sets VOXLOAD_BIN)."""
    path = os.path.join(os.path.dirname(os.environ.get("VOXLOAD_BIN", "")), name)
    assert os.path.exists(path), f"{path} missing: set VOXLOAD_BIN (scripts/test.sh does)"
    return path


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    d = tmp_path_factory.mktemp("t")
    subprocess.run([binary("voxload"), "synth", str(d / "tiles"), "--volume", "12,96,80",
                    "--tiles", "png", "--tile", "32"], check=True, capture_output=True)
    return d / "tiles" / "tiles.json"


def test_equals_the_ingest_command(tiles, tmp_path, capfd):
    out = tmp_path / "py.zarr"
    report = voxload.ingest(tiles, out, chunk=(4, 32, 32), progress=True)
    assert report["shape"] == [12, 96, 80] and report["dtype"] == "uint8"
    assert report["complete"] and report["slabs_written"] == 3 and report["slabs_skipped"] == 0
    assert "12/12 slices" in capfd.readouterr().err
    cli = tmp_path / "cli.zarr"
    subprocess.run([binary("ingest"), str(tiles), str(cli), "--chunk", "4,32,32", "--quiet"],
                   check=True)
    mine = zarr.open_array(str(out / "image"), mode="r")[...]
    theirs = zarr.open_array(str(cli / "image"), mode="r")[...]
    np.testing.assert_array_equal(mine, theirs)
    assert voxload.open(out)["image"].read((0, 0, 0), (12, 96, 80)).tobytes() == theirs.tobytes()
    # Again: refused without overwrite or resume; a resume skips everything; overwrite redoes.
    with pytest.raises(voxload.Error, match="overwrite"):
        voxload.ingest(tiles, out, chunk=(4, 32, 32), progress=False)
    again = voxload.ingest(tiles, out, chunk=(4, 32, 32), resume=True, progress=False)
    assert again["slabs_written"] == 0 and again["complete"]
    replaced = voxload.ingest(tiles, out, chunk=(4, 32, 32), overwrite=True, progress=False)
    assert replaced["slabs_written"] == 3


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        voxload.ingest(tmp_path / "nope.json", tmp_path / "o.zarr", progress=False)
    assert isinstance(e.value, voxload.Error) and "nope.json" in str(e.value)
    with pytest.raises(ValueError, match="codec"):
        voxload.ingest(tmp_path / "nope.json", tmp_path / "o.zarr", codec="lzma", progress=False)
    assert not (tmp_path / "o.zarr").exists()
