"""Writes voxload's bad-input corpus, tests/bad/, one small file (or store) per case.

Every file is built byte by byte with the standard library only (no image library), so the
corpus is fixed and the script documents exactly what is wrong with each case. The tests in
tests/it/bad_corpus.rs read these committed files; rerun this script only to change the corpus.

Run: python3 tests/bad/make.py
"""

import json
import shutil
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent


# ---------------------------------------------------------------- PNG


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def ihdr(width: int, height: int, depth: int = 8, colour: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(width: int, height: int, depth: int = 8) -> bytes:
    """A valid grayscale PNG whose pixels are a simple ramp."""
    sample = depth // 8
    rows = b""
    for y in range(height):
        row = b""
        for x in range(width):
            v = (y * width + x) % 256
            row += bytes([v]) * sample
        rows += b"\x00" + row
    return (
        SIGNATURE
        + ihdr(width, height, depth)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def write(name: str, data: bytes) -> None:
    assert len(data) < 64 * 1024, name
    (OUT / name).write_bytes(data)


def pngs() -> None:
    good = png(16, 16)
    # Cut in the middle of the IDAT chunk.
    idat = good.index(b"IDAT")
    write("truncated.png", good[: idat + 20])
    # The IHDR's CRC flipped: the header cannot be trusted.
    bad_crc = bytearray(good)
    bad_crc[8 + 8 + 13] ^= 0xFF
    write("bad_crc.png", bytes(bad_crc))
    # A valid signature and header, then garbage instead of chunks.
    write("garbage.png", SIGNATURE + ihdr(16, 16) + bytes((i * 37 + 11) % 256 for i in range(200)))
    # 16-bit pixels, listed by a tile JSON that declares uint8.
    write("depth16.png", png(16, 16, depth=16))
    # A header claiming 0 x 0 (the PNG format forbids it), then an empty image.
    write("zero.png", SIGNATURE + ihdr(0, 0) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    # A header claiming 100000 x 100000 (10 GB of pixels) with a few bytes of data.
    huge_rows = zlib.compress(b"\x00" * 1000)
    write("huge.png", SIGNATURE + ihdr(100_000, 100_000) + chunk(b"IDAT", huge_rows) + chunk(b"IEND", b""))
    # 100000 x 40000: 4 GB of pixels, just under the decoder's 4 GiB allocation limit, from a
    # file of a few hundred bytes (refused by plausibility, not by the limit).
    write("huge_under_limit.png", SIGNATURE + ihdr(100_000, 40_000) + chunk(b"IDAT", huge_rows) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- TIFF


def tiff(width: int, height: int, pixels: bytes, strip_bytes: int | None = None) -> bytes:
    """A little-endian baseline TIFF: 8-bit grayscale, uncompressed, one strip."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample, SHORT
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: BlackIsZero
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, max(height, 1)),  # RowsPerStrip
        (279, 4, 1, len(pixels) if strip_bytes is None else strip_bytes),  # StripByteCounts
    ]
    ifd_offset = 8
    ifd_len = 2 + 12 * len(entries) + 4
    data_offset = ifd_offset + ifd_len
    out = b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = data_offset
        packed = struct.pack("<H", value) + b"\x00\x00" if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0)
    return out + pixels


def tiffs() -> None:
    good = tiff(16, 16, bytes(range(256)))
    # The strip is cut: the header promises 256 bytes, the file holds 100.
    write("truncated.tif", good[: len(good) - 156])
    # Not even a whole header.
    write("truncated_header.tif", good[:12])
    write("zero.tif", tiff(0, 0, b""))
    # 100000 x 100000 declared, 16 bytes of pixels.
    write("huge.tif", tiff(100_000, 100_000, bytes(16), strip_bytes=100_000 * 100_000 % 2**32))
    # 100000 x 40000 (4 GB): under the decoder's limits, still implausible for a 200-byte file.
    write("huge_under_limit.tif", tiff(100_000, 40_000, bytes(16), strip_bytes=4_000_000_000))


# ---------------------------------------------------------------- tile JSON


def tile_jsons() -> None:
    good = {"depth": 1, "height": 16, "width": 16, "tile_size": 16, "image": ["good.png"], "dtype": "uint8"}
    write("good.png", png(16, 16))
    cases = {
        "good": good,
        "wrong_type": {**good, "depth": "one"},
        "negative_size": {**good, "height": -16},
        "tile_size_wrong_type": {**good, "tile_size": [16, "sixteen"]},
        "missing_key": {k: v for k, v in good.items() if k != "image"},
        "image_not_a_list": {**good, "image": 5},
        "missing_path": {**good, "image": ["does_not_exist/tile_{row}_{column}.png"]},
        "wrong_depth": {**good, "image": ["depth16.png"]},
        "truncated_tile": {**good, "image": ["truncated.png"]},
        "huge_tile": {**good, "image": ["huge.png"]},
        "not_an_object": [1, 2, 3],
    }
    for name, doc in cases.items():
        write(f"{name}.json", (json.dumps(doc, indent=1) + "\n").encode())
    write("not_json.json", b'{"depth": 1, "height": 16,\n')


# ---------------------------------------------------------------- Zarr stores


def array_meta(codecs: list, shape=(4, 4, 4), chunk_shape=(2, 4, 4)) -> dict:
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape),
        "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunk_shape)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": codecs,
        "attributes": {},
        "dimension_names": ["z", "y", "x"],
    }


RAW = [{"name": "bytes", "configuration": {"endian": "little"}}]


def store(name: str, meta: dict | bytes, files: dict[str, bytes]) -> None:
    """`name` with a root group and one array `a` holding `files` (paths relative to `a`)."""
    root = OUT / name
    if root.exists():
        shutil.rmtree(root)
    (root / "a").mkdir(parents=True)
    (root / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}) + "\n")
    text = meta if isinstance(meta, bytes) else (json.dumps(meta, indent=1) + "\n").encode()
    (root / "a" / "zarr.json").write_bytes(text)
    for rel, data in files.items():
        path = root / "a" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def stores() -> None:
    chunk_bytes = 2 * 4 * 4
    # Chunk (0, 0, 0) is whole; chunk (1, 0, 0) is 5 bytes short.
    store(
        "chunk_wrong_length.zarr",
        array_meta(RAW),
        {"c/0/0/0": bytes(range(chunk_bytes)), "c/1/0/0": bytes(range(chunk_bytes - 5))},
    )
    # One (4, 4, 4) shard of two (2, 4, 4) inner chunks; the index is at the end with a
    # crc32c (which matches: only the bounds check can catch the bad entry).
    sharding = [
        {
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": [2, 4, 4],
                "codecs": RAW,
                "index_codecs": RAW + [{"name": "crc32c"}],
                "index_location": "end",
            },
        }
    ]
    data = bytes(range(2 * chunk_bytes))
    entries = [(0, chunk_bytes), (len(data) + 1000, chunk_bytes)]  # entry 1 lies past the end
    index = b"".join(struct.pack("<QQ", o, n) for o, n in entries)
    shard = data + index + struct.pack("<I", crc32c(index))
    store("shard_past_end.zarr", array_meta(sharding, chunk_shape=(4, 4, 4)), {"c/0/0/0": shard})
    store(
        "unknown_codec.zarr",
        array_meta(RAW + [{"name": "fancy_wavelet", "configuration": {"level": 3}}]),
        {},
    )
    store("not_json.zarr", b'{"zarr_format": 3, "node_type": "array", "shape": [4, 4\n', {})


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit: slow and obviously right for a few hundred bytes."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


if __name__ == "__main__":
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    pngs()
    tiffs()
    tile_jsons()
    stores()
