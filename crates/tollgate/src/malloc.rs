//! How `tollgate serve` sets glibc's allocator up: large buffers (request bodies, a commit's
//! batch) are mapped for themselves and returned to the system when freed, rather than left
//! scattered through the heap arenas.
//!
//! glibc maps allocations from 128 KiB up on their own, but raises that threshold to the size
//! of each such block freed, up to 32 MiB; after the first large batch, every body and commit
//! buffer is carved out of the arenas, which keep the memory once they are fragmented. Under
//! batch load that is some 30 MB of resident memory. Fixing the threshold stops the raising.
//! The allocator reads its tunables only when a process starts, and setting one from within
//! would take `unsafe`, so the server starts itself once more (`exec`: the same process id,
//! arguments and environment) with `GLIBC_TUNABLES` set. An operator who sets
//! `GLIBC_TUNABLES` (or `MALLOC_MMAP_THRESHOLD_`) keeps their own choice.

/// Starts this program again with glibc's default threshold, fixed, unless the environment already sets the
/// allocator up. Returns only when it does not (or the start fails, which leaves the process
/// as it was: it runs on with glibc's defaults).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn fix_mmap_threshold() {
    use std::os::unix::process::CommandExt;
    const TUNABLES: &str = "glibc.malloc.mmap_threshold=131072";

    if std::env::var_os("GLIBC_TUNABLES").is_some()
        || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        again.arg0(name);
    }
    let failed = again.args(args).env("GLIBC_TUNABLES", TUNABLES).exec();
    eprintln!("tollgate: running with glibc's default allocator settings ({failed})");
}

/// Other C libraries: nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn fix_mmap_threshold() {}
