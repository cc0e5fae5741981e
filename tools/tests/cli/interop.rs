//! Interoperability with zarr-python 3 and numpy: voxload's stores open there with identical
//! values, and `voxload window` equals `np.pad`. These tests fail, never skip, when Python or its
//! packages are missing (`scripts/test.sh` installs them).

use std::path::Path;
use std::process::Command;

use voxload::{write_array, Encoding};

use crate::util::{formula_volume, run_python, Formula};

fn write_all_dtypes<T: Formula>(store: &Path, prefix: &str, encoding: Encoding) {
    let volume = formula_volume::<T>([9, 20, 17]);
    let name = format!("{prefix}_{}", T::DTYPE);
    write_array(store, &name, &volume, [7, 13, 11], encoding).unwrap();
}

#[test]
fn zarr_python_reads_voxload_stores() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("voxload.zarr");
    for (prefix, encoding) in [
        ("raw", Encoding::Raw),
        (
            "sharded",
            Encoding::ShardedRaw {
                shard: [14, 26, 22],
            },
        ),
        ("zstd", Encoding::Zstd { level: 3 }),
    ] {
        write_all_dtypes::<u8>(&store, prefix, encoding);
        write_all_dtypes::<u16>(&store, prefix, encoding);
        write_all_dtypes::<u32>(&store, prefix, encoding);
        write_all_dtypes::<u64>(&store, prefix, encoding);
        write_all_dtypes::<f32>(&store, prefix, encoding);
    }
    run_python(&["check_store.py", store.to_str().unwrap()]);
}

#[test]
fn window_command_equals_numpy_pad() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    write_all_dtypes::<u16>(
        &store,
        "sharded",
        Encoding::ShardedRaw { shard: [7, 26, 22] },
    );
    let array = store.join("sharded_uint16");
    let cases = [
        ("-4,0,3", "8,20,20", "reflect", false),
        ("-4,0,3", "8,20,20", "symmetric", true),
        ("5,-30,-2", "9,70,25", "reflect", true),
        ("-20,15,10", "30,10,30", "edge", false),
        ("2,-3,16", "3,30,4", "constant:7", true),
        ("100,100,100", "2,3,4", "constant", false),
    ];
    for (i, (start, shape, pad, equals_form)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("w{i}.npy"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxload"));
        cmd.arg("window").arg(&array);
        if equals_form {
            cmd.arg(format!("--start={start}"));
        } else {
            cmd.args(["--start", start]);
        }
        cmd.args(["--shape", shape, "--pad", pad, "--out"])
            .arg(&out);
        let status = cmd.output().unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        run_python(&[
            "check_window.py",
            store.to_str().unwrap(),
            "sharded_uint16",
            start,
            shape,
            pad,
            out.to_str().unwrap(),
        ]);
    }
}
