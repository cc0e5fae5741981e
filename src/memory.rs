//! Process-wide memory tuning for the voxload binaries.

/// Makes glibc keep freed memory for reuse instead of returning it to the kernel.
///
/// Ingest and the loader free and reallocate megabyte buffers (decoded tiles, encoded chunks)
/// all the time; glibc serves such sizes with fresh `mmap`s and trims freed heap memory, so
/// every buffer's pages are faulted in and zeroed again. On some machines (VMs in particular)
/// that costs more than decoding the data. Raising the mmap and trim thresholds keeps the
/// memory in the process for reuse. Call it at the start of `main`, before other threads exist;
/// it does nothing on other platforms.
///
/// ```
/// voxload::internals::memory::keep_freed_memory();
/// ```
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator's thresholds and is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The process's anonymous resident memory (`RssAnon` of `/proc/self/status`) in KiB: heap and
/// other private memory, without the page cache of mapped files. `None` where the kernel does
/// not report it.
///
/// ```
/// if let Some(kib) = voxload::internals::memory::rss_anon_kib() {
///     assert!(kib > 0);
/// }
/// ```
#[must_use]
pub fn rss_anon_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
