//! `voxload pyramid`: adds OME-Zarr levels to an array of a store.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use voxload::geometry::parse_triple;
use voxload::store::pyramid::{build, PyramidOptions};
use voxload::store::split_address;

#[derive(Args)]
pub struct PyramidArgs {
    /// The array (`STORE.zarr/NAME`): a plain array (moved to NAME/0, NAME becoming the image
    /// group) or an OME-Zarr image written by voxload (levels added below its last).
    pub address: PathBuf,
    /// Levels below level 0.
    #[arg(long)]
    pub levels: u32,
    /// Reduce by the most frequent non-zero id (labels) instead of the mean.
    #[arg(long)]
    pub label: bool,
    /// Level 0's voxel size Z,Y,X (default: the array's recorded `voxel_size`, else 1,1,1).
    #[arg(long, value_name = "Z,Y,X")]
    pub voxel_size: Option<String>,
    /// The unit of the voxel size (default: the array's recorded unit, else nanometer).
    #[arg(long)]
    pub unit: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `voxload pyramid`.
pub fn pyramid(args: &PyramidArgs) -> Result<()> {
    let (store, name) = split_address(&args.address);
    let recorded = voxload::store::ome::voxel_size(&store, &name).unwrap_or(None);
    let voxel_size = match &args.voxel_size {
        Some(text) => parse_triple::<f64>(text).context("--voxel-size")?,
        None => recorded.as_ref().map_or([1.0; 3], |(s, _)| *s),
    };
    if voxel_size.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        anyhow::bail!("--voxel-size {voxel_size:?}: every size must be a positive number");
    }
    let unit = args
        .unit
        .clone()
        .or_else(|| recorded.and_then(|(_, u)| u))
        .unwrap_or_else(|| "nanometer".into());
    let options = PyramidOptions {
        levels: args.levels,
        voxel_size,
        unit,
        label: args.label,
    };
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("level {msg} {bar:40} {pos}/{len} blocks  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let levels = build(&store, &name, &options, &mut |level, done, total| {
        bar.set_message(level.to_string());
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if !args.quiet {
        for l in &levels {
            eprintln!(
                "{}/{}/{}: {:?}, voxel {:?} {}",
                store.display(),
                name,
                l.path,
                l.shape,
                l.scale,
                options.unit
            );
        }
    }
    Ok(())
}
