//! `voxload cache info|clear`: what the local cache of remote stores holds, and emptying it.

use anyhow::Result;
use clap::Subcommand;
use voxload::store::remote::{cache_info, clear_cache};

/// What to do with the cache.
#[derive(Subcommand)]
pub enum CacheCommand {
    /// Print the cache's folder, its entries, its size and its limit (VOXLOAD_CACHE_DIR,
    /// VOXLOAD_CACHE_BYTES).
    Info {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove everything the cache holds (remote stores then fetch again on first use).
    Clear,
}

/// Runs a cache command.
pub fn cache(command: &CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Info { json } => {
            let info = cache_info();
            if *json {
                let doc = serde_json::json!({
                    "dir": info.dir,
                    "entries": info.entries,
                    "bytes": info.bytes,
                    "limit_bytes": info.limit,
                });
                println!("{doc}");
            } else {
                println!("cache    {}", info.dir.display());
                println!("entries  {}", info.entries);
                println!(
                    "size     {} of {} ({:.1} %)",
                    crate::human_bytes(info.bytes as f64),
                    crate::human_bytes(info.limit as f64),
                    100.0 * info.bytes as f64 / info.limit.max(1) as f64
                );
            }
        }
        CacheCommand::Clear => {
            let freed = clear_cache()?;
            println!(
                "cleared {} ({})",
                voxload::store::remote::cache_dir().display(),
                crate::human_bytes(freed as f64)
            );
        }
    }
    Ok(())
}
