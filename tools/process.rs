//! Process set-up and exit shared by the `voxload` and `ingest` binaries: the quiet end on a
//! closed pipe, the exit codes, and the command-line flags behind the library's option names.

use std::process::ExitCode;

use voxload::error::LibraryOption;
use voxload::ingest::IngestError;

/// Prepares the process for a command-line run: freed memory stays with the allocator (see
/// `voxload::internals::memory::keep_freed_memory`), and a closed output pipe
/// (`voxload info | head`) ends the process quietly, as it does other Unix tools, instead of
/// failing a write.
pub fn init() {
    voxload::internals::memory::keep_freed_memory();
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE at start-up, before any other
    // thread exists, has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `voxload verify` found problems in the store: exit code 1, not an error of the command.
#[derive(Debug)]
pub struct ProblemsFound(pub String);

impl std::fmt::Display for ProblemsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProblemsFound {}

/// Exit codes, as ripgrep's: 0 success, 1 "verify found problems", 2 an error.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    let error: &(dyn std::error::Error + 'static) = e.as_ref();
    eprintln!("error: {}", voxload::error::report(error));
    if e.downcast_ref::<ProblemsFound>().is_some() {
        return ExitCode::from(1);
    }
    for hint in hints(&e) {
        eprintln!("hint: {hint}");
    }
    if voxload::error::is_disk_full(error) {
        eprintln!(
            "hint: the disk is full. Every chunk written so far is complete and kept; free space (or move the store), then rerun the same command with --resume"
        );
    }
    ExitCode::from(2)
}

/// The command-line flag of a library option.
pub fn flag(option: LibraryOption) -> &'static str {
    match option {
        LibraryOption::Overwrite => "--overwrite",
        LibraryOption::Resume => "--resume",
        LibraryOption::AllowMissing => "--allow-missing[=FILL]",
        LibraryOption::Label => "--label",
        LibraryOption::Separate => "--separate",
        LibraryOption::ZRange => "--z-range A:B",
        LibraryOption::Chunk => "--chunk",
        LibraryOption::Shard => "--shard",
        LibraryOption::MaxChunkBytes => "--max-chunk-bytes",
        LibraryOption::Threads => "--threads",
        LibraryOption::AllowIncomplete => "voxload window --allow-incomplete",
        _ => "(no flag)",
    }
}

/// `` `Ingest::chunk` is --chunk here `` for each library option the error names, and the flag
/// of a configuration key the command line also sets.
fn hints(e: &anyhow::Error) -> Vec<String> {
    // The library's error, or an ingest error on its own (input checks return those).
    let options = e.chain().find_map(|c| {
        c.downcast_ref::<voxload::Error>()
            .map(voxload::Error::options)
            .or_else(|| c.downcast_ref::<IngestError>().map(IngestError::options))
    });
    let mut out: Vec<String> = options
        .unwrap_or_default()
        .iter()
        .map(|&o| format!("{o} is {} on the command line", flag(o)))
        .collect();
    let config = e.chain().find_map(|c| c.downcast_ref::<voxload::Error>());
    if let Some(voxload::Error::Config { key, .. }) = config {
        let flag = match key.as_str() {
            "world_size" => Some("--world-size"),
            "rank" => Some("--rank"),
            "SYSTEM.NUM_CPUS" => Some("--workers"),
            _ => None,
        };
        if let Some(flag) = flag {
            out.push(format!("{key} is {flag} on the command line"));
        }
    }
    out
}

/// A library warning as the command line says it: each library option it names followed by
/// its flag.
#[allow(dead_code)] // each binary compiles this module; `voxload` prints no such warning
pub fn warning(text: &str) -> String {
    const NAMED: [LibraryOption; 4] = [
        LibraryOption::Chunk,
        LibraryOption::Shard,
        LibraryOption::MaxChunkBytes,
        LibraryOption::Threads,
    ];
    NAMED.iter().fold(text.to_string(), |t, &o| {
        t.replace(&o.to_string(), &format!("{o} ({})", flag(o)))
    })
}
