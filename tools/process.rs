//! Process set-up shared by the `voxload` and `ingest` binaries.

/// Prepares the process for a command-line run: freed memory stays with the allocator (see
/// `voxload::memory::keep_freed_memory`), and a closed output pipe (`voxload info | head`) ends
/// the process quietly, as it does other Unix tools, instead of failing a write.
pub fn init() {
    voxload::memory::keep_freed_memory();
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE at start-up, before any other
    // thread exists, has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
