//! Ingest: tile datasets and image lists land in the store exactly as a naïve stitch of the
//! volume they were cut from; bad inputs give errors naming the file or key; interrupted
//! ingests resume to byte-identical stores.

use std::path::Path;

use ndarray::Array3;
use voxload::ingest::{Ingest, IngestError};
use voxload::{Bbox, Element, Error, MappedArray, PadMode};

use crate::ingest_util::*;

fn read_all<T: Element>(store: &Path, name: &str) -> Array3<T> {
    let a = MappedArray::<T>::open(store, name).unwrap();
    a.read(Bbox::from_shape(a.shape()), PadMode::default())
        .unwrap()
}

fn check_tiles(format: TileFormat, max: u32, shape: [usize; 3], tile: [usize; 2], chunk: [u64; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume(shape, max, 11);
    let json = write_tile_dataset(dir.path(), &volume, tile, [1, 2], format);
    let store = dir.path().join("out.zarr");
    let report = Ingest::new(&json, &store).chunk(chunk).run().unwrap();
    assert!(report.complete);
    assert_eq!(report.shape, shape.map(|v| v as u64));
    match format {
        TileFormat::Png8 => assert_eq!(read_all::<u8>(&store, "image"), volume.mapv(|v| v as u8)),
        TileFormat::Png16 | TileFormat::Tiff16 => {
            assert_eq!(read_all::<u16>(&store, "image"), volume.mapv(|v| v as u16))
        }
        TileFormat::RgbLabels => assert_eq!(read_all::<u32>(&store, "image"), volume),
    }
    assert!(
        !store.join("image/.voxload-progress").exists(),
        "progress records left behind"
    );
}

#[test]
fn png8_tiles_with_offsets_and_partial_edges() {
    check_tiles(TileFormat::Png8, 256, [5, 37, 45], [16, 20], [2, 16, 16]);
}

#[test]
fn png16_tiles_with_chunks_not_dividing_the_volume() {
    check_tiles(TileFormat::Png16, 65536, [7, 30, 26], [11, 13], [3, 8, 32]);
}

#[test]
fn lzw_tiff16_tiles() {
    check_tiles(
        TileFormat::Tiff16,
        65536,
        [3, 25, 19],
        [10, 10],
        [2, 16, 16],
    );
}

#[test]
fn rgb_label_tiles_pack_to_ids() {
    check_tiles(
        TileFormat::RgbLabels,
        1 << 24,
        [4, 21, 23],
        [8, 12],
        [2, 16, 16],
    );
}

#[test]
fn sharded_ingest_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([6, 20, 20], 256, 3);
    let json = write_tile_dataset(dir.path(), &volume, [10, 10], [0, 0], TileFormat::Png8);
    let store = dir.path().join("out.zarr");
    Ingest::new(&json, &store)
        .chunk([2, 8, 8])
        .shard(Some([4, 16, 16]))
        .run()
        .unwrap();
    assert_eq!(read_all::<u8>(&store, "image"), volume.mapv(|v| v as u8));
}

#[test]
fn txt_list_and_folder_in_natural_order() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([11, 9, 7], 65536, 5).mapv(|v| v as u16);
    let slices = dir.path().join("slices");
    std::fs::create_dir(&slices).unwrap();
    for z in 0..11 {
        png_gray(
            &slices.join(format!("im{z}.png")),
            &volume.index_axis(ndarray::Axis(0), z).to_owned(),
            true,
        );
    }
    let store = dir.path().join("a.zarr");
    Ingest::new(&slices, &store).chunk([4, 4, 4]).run().unwrap();
    assert_eq!(
        read_all::<u16>(&store, "image"),
        volume,
        "folder order must be natural"
    );
    let list: String = (0..11).map(|z| format!("slices/im{z}.png\n")).collect();
    std::fs::write(dir.path().join("list.txt"), format!("# slices\n\n{list}")).unwrap();
    let store = dir.path().join("b.zarr");
    Ingest::new(dir.path().join("list.txt"), &store)
        .chunk([4, 4, 4])
        .run()
        .unwrap();
    assert_eq!(read_all::<u16>(&store, "image"), volume);
}

#[test]
fn multipage_tiff_stack() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([9, 13, 17], 256, 9).mapv(|v| v as u8);
    tiff_stack_u8(&dir.path().join("stack.tif"), &volume);
    let store = dir.path().join("s.zarr");
    Ingest::new(dir.path().join("stack.tif"), &store)
        .chunk([4, 8, 8])
        .run()
        .unwrap();
    assert_eq!(read_all::<u8>(&store, "image"), volume);
}

#[test]
fn missing_tile_names_the_file_or_is_filled() {
    let dir = tempfile::tempdir().unwrap();
    let json = small_dataset(dir.path());
    let gone = dir.path().join("0002/1_0.png");
    std::fs::remove_file(&gone).unwrap();
    let store = dir.path().join("o.zarr");
    match Ingest::new(&json, &store).chunk([2, 8, 8]).run() {
        Err(Error::Ingest(IngestError::Missing { path })) => assert_eq!(path, gone),
        other => panic!("expected Missing, got {other:?}"),
    }
    let report = Ingest::new(&json, &store)
        .chunk([2, 8, 8])
        .resume(true)
        .allow_missing(Some(7.0))
        .run()
        .unwrap();
    assert_eq!(report.missing_tiles, 1);
    let data = read_all::<u8>(&store, "image");
    assert!(data
        .slice(ndarray::s![2, 10..20, 0..10])
        .iter()
        .all(|&v| v == 7));
}

#[test]
fn corrupt_and_wrong_size_tiles_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let json = small_dataset(dir.path());
    let bad = dir.path().join("0001/0_1.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let store = dir.path().join("o.zarr");
    match Ingest::new(&json, &store).chunk([2, 8, 8]).run() {
        Err(Error::Ingest(IngestError::Decode { path, .. })) => assert_eq!(path, bad),
        other => panic!("expected Decode, got {other:?}"),
    }
    png_gray(&bad, &ndarray::Array2::<u8>::zeros((10, 9)), false);
    match Ingest::new(&json, &store)
        .chunk([2, 8, 8])
        .overwrite(true)
        .run()
    {
        Err(Error::Ingest(IngestError::TileSize {
            path,
            found,
            expected,
        })) => {
            assert_eq!((path, found, expected), (bad, [10, 9], [10, 10]));
        }
        other => panic!("expected TileSize, got {other:?}"),
    }
}

#[test]
fn sixteen_bit_tile_in_an_eight_bit_volume_is_a_type_error() {
    let dir = tempfile::tempdir().unwrap();
    let json = small_dataset(dir.path());
    let odd = dir.path().join("0000/0_0.png");
    png_gray(&odd, &ndarray::Array2::<u16>::zeros((10, 10)), true);
    let err = Ingest::new(&json, dir.path().join("o.zarr"))
        .chunk([2, 8, 8])
        .run()
        .unwrap_err();
    assert!(
        matches!(err, Error::Ingest(IngestError::TileType { ref path, .. }) if *path == odd),
        "{err}"
    );
}

fn edit_json(json: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(json, doc.to_string()).unwrap();
}

type JsonEdit = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn bad_json_keys_are_named() {
    let cases: Vec<(&str, JsonEdit)> = vec![
        (
            "depth",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("depth");
            }),
        ),
        ("tile_size", Box::new(|d| d["tile_size"] = "big".into())),
        ("n_rows", Box::new(|d| d["n_rows"] = 5.into())),
        ("n_columns", Box::new(|d| d["n_columns"] = 1.into())),
        ("dtype", Box::new(|d| d["dtype"] = "int7".into())),
        ("height", Box::new(|d| d["height"] = (-3).into())),
        ("image", Box::new(|d| d["image"] = serde_json::json!(["a"]))),
        (
            "tile_st",
            Box::new(|d| d["tile_st"] = serde_json::json!([0])),
        ),
    ];
    for (key, edit) in cases {
        let dir = tempfile::tempdir().unwrap();
        let json = small_dataset(dir.path());
        edit_json(&json, edit);
        match Ingest::new(&json, dir.path().join("o.zarr")).run() {
            Err(Error::Ingest(IngestError::Json { key: k, path, .. })) => {
                assert_eq!((k.as_str(), path), (key, json.clone()));
            }
            other => panic!("{key}: expected Json error, got {other:?}"),
        }
    }
}

#[test]
fn existing_output_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let json = small_dataset(dir.path());
    let store = dir.path().join("o.zarr");
    Ingest::new(&json, &store).chunk([2, 8, 8]).run().unwrap();
    let before = tree(&store);
    let err = Ingest::new(&json, &store)
        .chunk([2, 8, 8])
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("Ingest::overwrite"), "{err}");
    assert_eq!(tree(&store), before, "a refused run changed the store");
}

#[test]
fn two_ingests_of_the_same_input_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let json = small_dataset(dir.path());
    let (a, b) = (dir.path().join("a.zarr"), dir.path().join("b.zarr"));
    Ingest::new(&json, &a).chunk([2, 8, 8]).run().unwrap();
    Ingest::new(&json, &b)
        .chunk([2, 8, 8])
        .threads(Some(1))
        .run()
        .unwrap();
    assert_eq!(tree(&a), tree(&b));
}

#[test]
fn zarr_python_reads_an_ingested_store() {
    let dir = tempfile::tempdir().unwrap();
    let formula = crate::util::formula_volume::<u16>([5, 23, 19]).mapv(u32::from);
    let json = write_tile_dataset(dir.path(), &formula, [10, 8], [0, 0], TileFormat::Png16);
    let store = dir.path().join("t.zarr");
    Ingest::new(&json, &store)
        .array("tiles_uint16")
        .chunk([2, 8, 8])
        .run()
        .unwrap();
    crate::util::run_python(&["check_store.py", store.to_str().unwrap()]);
}

#[test]
fn tile_ratio_resizes_labels_by_nearest_and_images_linearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("0000")).unwrap();
    // One 2x2 tile, enlarged by 2 to 4x4 (corner-aligned sampling at 0, 1/3, 2/3, 1).
    png_gray(
        &dir.path().join("0000/0_0.png"),
        &ndarray::array![[10u8, 40], [70, 100]],
        false,
    );
    let spec = |dtype: &str| {
        serde_json::json!({"depth": 1, "height": 4, "width": 4, "tile_size": 4, "tile_ratio": 2,
            "image": ["0000/{row}_{column}.png"], "dtype": dtype})
    };
    std::fs::write(dir.path().join("img.json"), spec("uint8").to_string()).unwrap();
    let store = dir.path().join("r.zarr");
    Ingest::new(dir.path().join("img.json"), &store)
        .chunk([1, 4, 4])
        .run()
        .unwrap();
    let img = read_all::<u8>(&store, "image");
    // Linear: row 0 is 10 -> 40 in thirds; column 0 is 10 -> 70 in thirds.
    assert_eq!(
        img.slice(ndarray::s![0, 0, ..]).to_vec(),
        vec![10, 20, 30, 40]
    );
    assert_eq!(
        img.slice(ndarray::s![0, .., 0]).to_vec(),
        vec![10, 30, 50, 70]
    );
    Ingest::new(dir.path().join("img.json"), &store)
        .array("label")
        .label(true)
        .chunk([1, 4, 4])
        .run()
        .unwrap();
    let lab = read_all::<u8>(&store, "label");
    let want = ndarray::array![
        [10u8, 10, 40, 40],
        [10, 10, 40, 40],
        [70, 70, 100, 100],
        [70, 70, 100, 100]
    ];
    assert_eq!(lab.index_axis(ndarray::Axis(0), 0), want);
}

#[test]
fn separate_writes_one_array_per_image_of_any_size() {
    let dir = tempfile::tempdir().unwrap();
    let a = random_volume([1, 6, 9], 256, 1).mapv(|v| v as u8);
    let b = random_volume([1, 11, 4], 256, 2).mapv(|v| v as u8);
    png_gray(
        &dir.path().join("a.png"),
        &a.index_axis(ndarray::Axis(0), 0).to_owned(),
        false,
    );
    png_gray(
        &dir.path().join("b.png"),
        &b.index_axis(ndarray::Axis(0), 0).to_owned(),
        false,
    );
    std::fs::write(dir.path().join("list.txt"), "a.png\nb.png\n").unwrap();
    let store = dir.path().join("s.zarr");
    let err = Ingest::new(dir.path().join("list.txt"), &store)
        .run()
        .unwrap_err();
    assert!(
        matches!(err, Error::Ingest(IngestError::TileSize { ref path, .. }) if path.ends_with("b.png")),
        "{err}"
    );
    let report = Ingest::new(dir.path().join("list.txt"), &store)
        .separate(true)
        .overwrite(true)
        .run()
        .unwrap();
    assert!(report.complete);
    assert_eq!(read_all::<u8>(&store, "image/0000"), a);
    assert_eq!(read_all::<u8>(&store, "image/0001"), b);
    let group = std::fs::read_to_string(store.join("image/zarr.json")).unwrap();
    assert!(
        group.contains("\"group\""),
        "image/ must be a group: {group}"
    );
}

/// Writes one TIFF page of `C` pixels with `compression`.
fn tiff_page<C: tiff::encoder::colortype::ColorType>(
    path: &Path,
    (w, h): (u32, u32),
    data: &[C::Inner],
    compression: tiff::encoder::Compression,
) where
    [C::Inner]: tiff::encoder::TiffValue,
{
    let file = std::fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(file)
        .unwrap()
        .with_compression(compression);
    enc.write_image::<C>(w, h, data).unwrap();
}

#[test]
fn tiff_pixel_formats_and_compressions() {
    use tiff::encoder::{colortype, Compression, DeflateLevel};
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (5u32, 3u32);
    let n = (w * h) as usize;
    let case = |name: &str| {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        dir.path().join(name).join("s0.tif")
    };
    // 32-bit grayscale, Deflate.
    let u32s: Vec<u32> = (0..n as u32).map(|i| i * 100_003).collect();
    tiff_page::<colortype::Gray32>(
        &case("u32"),
        (w, h),
        &u32s,
        Compression::Deflate(DeflateLevel::Balanced),
    );
    // float32 grayscale, uncompressed.
    let f32s: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 1.0).collect();
    tiff_page::<colortype::Gray32Float>(&case("f32"), (w, h), &f32s, Compression::Uncompressed);
    // 8-bit, PackBits.
    let u8s: Vec<u8> = (0..n as u8).map(|i| i * 9).collect();
    tiff_page::<colortype::Gray8>(&case("u8"), (w, h), &u8s, Compression::Packbits);
    // RGBA labels, LZW: ids from R, G, B; alpha ignored.
    let rgba: Vec<u8> = (0..n).flat_map(|i| [i as u8, 1, 2, 255]).collect();
    tiff_page::<colortype::RGBA8>(&case("rgba"), (w, h), &rgba, Compression::Lzw);

    let store = dir.path().join("t.zarr");
    let ingest = |name: &str, label: bool| {
        Ingest::new(dir.path().join(name), &store)
            .array(name)
            .label(label)
            .chunk([1, 4, 4])
            .run()
            .unwrap()
    };
    ingest("u32", false);
    assert_eq!(
        read_all::<u32>(&store, "u32")
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        u32s
    );
    ingest("f32", false);
    assert_eq!(
        read_all::<f32>(&store, "f32")
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        f32s
    );
    ingest("u8", false);
    assert_eq!(
        read_all::<u8>(&store, "u8")
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        u8s
    );
    ingest("rgba", true);
    let ids: Vec<u32> = (0..n as u32).map(|i| (i << 16) | (1 << 8) | 2).collect();
    assert_eq!(
        read_all::<u32>(&store, "rgba")
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        ids
    );
    // The same RGBA file as an image takes channel 0.
    Ingest::new(dir.path().join("rgba"), &store)
        .array("rgba_image")
        .chunk([1, 4, 4])
        .run()
        .unwrap();
    let red: Vec<u8> = (0..n as u8).collect();
    assert_eq!(
        read_all::<u8>(&store, "rgba_image")
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        red
    );
}

#[test]
fn sixteen_bit_rgb_labels_pack_to_64_bit_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (3u32, 2u32);
    let rgb: Vec<u16> = (0..6u16).flat_map(|i| [i, 1000 + i, 60000]).collect();
    let file = std::io::BufWriter::new(std::fs::File::create(dir.path().join("l.png")).unwrap());
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Sixteen);
    let bytes: Vec<u8> = rgb.iter().flat_map(|v| v.to_be_bytes()).collect();
    enc.write_header()
        .unwrap()
        .write_image_data(&bytes)
        .unwrap();
    std::fs::write(dir.path().join("list.txt"), "l.png\n").unwrap();
    let store = dir.path().join("l.zarr");
    let report = Ingest::new(dir.path().join("list.txt"), &store)
        .label(true)
        .chunk([1, 2, 2])
        .run()
        .unwrap();
    assert_eq!(report.dtype, voxload::DType::U64);
    let ids: Vec<u64> = (0..6u64)
        .map(|i| (i << 32) | ((1000 + i) << 16) | 60000)
        .collect();
    assert_eq!(
        read_all::<u64>(&store, "image")
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        ids
    );
}

#[test]
fn python_format_specs_in_tile_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([2, 20, 20], 256, 12);
    let json = write_tile_dataset(dir.path(), &volume, [10, 10], [0, 0], TileFormat::Png8);
    // Rename r_c.png to rr_cc.png and say so with PyTC's {row:02d}_{column:02d}.
    for z in 0..2 {
        for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let folder = dir.path().join(format!("{z:04}"));
            std::fs::rename(
                folder.join(format!("{r}_{c}.png")),
                folder.join(format!("{r:02}_{c:02}.png")),
            )
            .unwrap();
        }
    }
    let text = std::fs::read_to_string(&json)
        .unwrap()
        .replace("{row}_{column}", "{row:02d}_{column:02d}");
    std::fs::write(&json, text).unwrap();
    let store = dir.path().join("f.zarr");
    Ingest::new(&json, &store).chunk([1, 8, 8]).run().unwrap();
    assert_eq!(read_all::<u8>(&store, "image"), volume.mapv(|v| v as u8));
}

#[test]
fn huge_declared_dimensions_are_an_error_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json = small_dataset(dir.path());
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["height", "width", "tile_size"] {
        doc[key] = 1_000_000_000u64.into();
    }
    doc.as_object_mut().unwrap().remove("n_rows");
    doc.as_object_mut().unwrap().remove("n_columns");
    std::fs::write(&json, doc.to_string()).unwrap();
    let store = dir.path().join("huge.zarr");
    let err = Ingest::new(&json, &store).run().unwrap_err();
    assert!(
        matches!(err, Error::Ingest(IngestError::Options { ref reason, .. }) if reason.contains("slab")),
        "{err}"
    );
    assert!(!store.exists(), "a failed plan left a store behind");
}

#[test]
fn ingest_limits_reach_every_decoded_image() {
    use voxload::image::{write_png_u16, Limits};
    let dir = tempfile::tempdir().unwrap();
    // The first image probes the volume; the second is larger than the limits allow.
    write_png_u16(&dir.path().join("s0.png"), 4, 4, &[1; 16]).unwrap();
    write_png_u16(&dir.path().join("s1.png"), 64, 64, &[2; 64 * 64]).unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "s0.png\ns1.png\n").unwrap();
    let mut small = Limits::default();
    small.max_bytes = 1024;
    let store = dir.path().join("out.zarr");
    let err = Ingest::new(&list, &store)
        .chunk([1, 4, 4])
        .limits(small)
        .run()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Ingest(IngestError::Decode { path, reason })
            if path.ends_with("s1.png") && reason.contains("limit of 1024 bytes")),
        "{err}"
    );
    // Stacks are decoded through the same limits (the probe already refuses this one).
    let stack = dir.path().join("stack.tif");
    tiff_stack_u8(&stack, &Array3::from_elem((2, 64, 64), 3));
    let err = Ingest::new(&stack, dir.path().join("stack.zarr"))
        .limits(small)
        .run()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Ingest(IngestError::Decode { path, .. }) if path == &stack),
        "{err}"
    );
    Ingest::new(&stack, dir.path().join("stack.zarr"))
        .run()
        .unwrap();
}
