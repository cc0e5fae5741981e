//! `voxload verify`: check a store's metadata, completion marks, chunk file lengths and shard
//! indexes, and optionally its voxels against the ingest input.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use voxload::ingest::compare_source;
use voxload::store::verify::verify as verify_store;

/// Arguments of `voxload verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The store directory.
    store: PathBuf,
    /// Check only this array (default: every array in the store).
    #[arg(long)]
    array: Option<String>,
    /// Also compare the array's voxels, slab by slab, with this ingest input (tile .json, .txt
    /// list, .tif stack or folder); needs --array when the store holds several arrays.
    #[arg(long)]
    source: Option<PathBuf>,
    /// Decode the source as labels (as `ingest --label`).
    #[arg(long)]
    label: bool,
}

/// Runs `voxload verify`; fails (exit code 1) when any problem is found.
pub fn verify(args: &VerifyArgs) -> Result<()> {
    let mut report = verify_store(&args.store, args.array.as_deref())?;
    if let Some(source) = &args.source {
        let [array] = report.arrays.as_mut_slice() else {
            bail!("--source needs --array NAME: the store holds several arrays");
        };
        let name = array.name.clone();
        compare_source(&args.store, &name, source, args.label, array)?;
    }
    let mut problems = 0;
    for array in &report.arrays {
        let name = if array.name.is_empty() {
            "(root)"
        } else {
            &array.name
        };
        let verdict = if array.problems.is_empty() {
            "ok"
        } else {
            "PROBLEMS"
        };
        let layout = if array.layout.is_empty() {
            "metadata unusable"
        } else {
            &array.layout
        };
        println!(
            "{name}: {verdict}: {} files checked, {} absent (fill), {layout}",
            array.files + array.decoded,
            array.absent
        );
        if array.slabs_compared > 0 {
            println!("  {} slabs compared with the source", array.slabs_compared);
        }
        for note in &array.notes {
            println!("  note: {note}");
        }
        for problem in &array.problems {
            println!("  problem: {problem}");
        }
        problems += array.problems.len();
    }
    if problems > 0 {
        return Err(crate::process::ProblemsFound(format!(
            "{problems} problem(s) in {}",
            args.store.display()
        ))
        .into());
    }
    Ok(())
}
