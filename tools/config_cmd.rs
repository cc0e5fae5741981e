//! Configuration files on the command line (`--config BASE.yaml --config TASK.yaml`, merged in
//! order) and `voxload config`, which prints what voxload read.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use voxload::config::{Config, ConfigMode};

/// One or more configuration files, YAML or JSON (PyTC key names).
#[derive(Args, Clone, Debug)]
pub struct ConfigFiles {
    /// A configuration file, YAML or JSON (PyTC key names). Give it twice (a base, then a
    /// task file) to merge them in order, later values winning, as PyTC's --config-base and
    /// --config-file do.
    #[arg(long = "config", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl ConfigFiles {
    /// The merged, validated configuration for `mode`.
    pub fn load(&self, mode: ConfigMode) -> Result<Config> {
        Ok(Config::load(&self.files, mode)?)
    }
}

/// PyTC's modes, as `--mode` spells them.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StageArg {
    /// Training.
    Train,
    /// PyTC's test mode (voxload's grid mode), with its inference overrides.
    Test,
    /// PyTC's validation mode (the VAL_* keys).
    Val,
}

#[derive(Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    config: ConfigFiles,
    /// train, test (PyTC's inference overrides applied) or val (the VAL_* keys).
    #[arg(long, value_enum, default_value = "train")]
    mode: StageArg,
    /// Print one JSON object: every PyTC key with its merged value, and "VOXLOAD" with the
    /// keys voxload does not use and its warnings.
    #[arg(long)]
    json: bool,
}

pub fn config(args: &ConfigArgs) -> Result<()> {
    let mode = match args.mode {
        StageArg::Train => ConfigMode::Train,
        StageArg::Test => ConfigMode::Test,
        StageArg::Val => ConfigMode::Val,
    };
    let cfg = args.config.load(mode)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&cfg.to_pytc_json())?);
        return Ok(());
    }
    print!("{}", summary(&cfg));
    Ok(())
}

/// What voxload will do with the configuration, in words.
fn summary(cfg: &Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "store: {}", cfg.input_path.display());
    for (i, names) in cfg.array_names().iter().enumerate() {
        let _ = writeln!(
            s,
            "volume {i}: image {}{}{}",
            names.image,
            names
                .label
                .as_ref()
                .map(|l| format!(", label {l}"))
                .unwrap_or_default(),
            names
                .valid_mask
                .as_ref()
                .map(|m| format!(", valid mask {m}"))
                .unwrap_or_default(),
        );
    }
    let _ = writeln!(
        s,
        "windows {:?} ({}), padding {} ({:?}), {} per batch, {} worker threads",
        cfg.input_size,
        if cfg.do_2d { "2D" } else { "3D" },
        cfg.pad_size,
        cfg.pad_mode,
        cfg.samples_per_batch,
        cfg.num_cpus
    );
    let r = &cfg.rejection;
    if r.size_thres >= 0 || r.diversity >= 0 {
        let _ = writeln!(
            s,
            "rejection sampling: SIZE_THRES {}, DIVERSITY {}, P {}, NUM_TRIAL {}",
            r.size_thres, r.diversity, r.p, r.num_trial
        );
    }
    let transforms: Vec<String> = cfg
        .transforms()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    let _ = writeln!(
        s,
        "augmentation: {}",
        if transforms.is_empty() {
            "none".to_string()
        } else {
            transforms.join(", ")
        }
    );
    let tta = &cfg.test_augment;
    let _ = writeln!(
        s,
        "inference grid: stride {:?}, {} blending{}",
        cfg.stride,
        cfg.blending,
        if tta.len() > 1 {
            format!(
                ", {} test-time variants combined by {:?}",
                tta.len(),
                tta.combine()
            )
        } else {
            String::new()
        }
    );
    if cfg.output_scale != [1.0; 3] || !cfg.unpad {
        let _ = writeln!(
            s,
            "predictions: each window resized by {:?} before blending{}",
            cfg.output_scale,
            if cfg.unpad {
                ""
            } else {
                "; the padded grid is kept (UNPAD off)"
            }
        );
    }
    if let Some(size) = cfg.prediction_size {
        let _ = writeln!(
            s,
            "predictions: the model's output blocks of {size:?} (OUTPUT_SIZE) are placed at each window's first voxel, as PyTC's test() places them"
        );
    }
    if let Some(mag) = cfg.label_mag {
        let _ = writeln!(s, "labels: returned as float32 label / {mag} (LABEL_MAG)");
    }
    if cfg.ensure_min_size {
        let _ = writeln!(
            s,
            "volumes smaller than the sample once padded are read resized up to it (ENSURE_MIN_SIZE)"
        );
    }
    if !cfg.report.unused.is_empty() {
        let _ = writeln!(
            s,
            "accepted but not used by voxload ({}): {}",
            cfg.report.unused.len(),
            cfg.report.unused.join(", ")
        );
    }
    for w in &cfg.report.warnings {
        let _ = writeln!(s, "note: {w}");
    }
    s
}
