//! The process's file descriptor limit, and the connection cap derived from it.
//!
//! Every connection holds a descriptor; so do the database pool, the SQLite files, archive
//! files, webhook deliveries and the runtime itself. The cap leaves room for those, so that
//! many connections make the server refuse or shed connections rather than fail to open a
//! file or accept at all.

/// Descriptors kept for everything but client connections, besides the database pool.
const RESERVED: u64 = 128;
/// Descriptors kept per database pool connection (SQLite: the database, its WAL and its
/// shared-memory file).
const PER_POOL_CONNECTION: u64 = 4;
/// The derived cap never exceeds this: each connection also costs memory (buffers).
const MOST: u64 = 10_000;
/// The soft limit on open descriptors (`RLIMIT_NOFILE`); None when unlimited (or, off Unix,
/// unknown).
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Raises the soft descriptor limit to the hard one, as Go's runtime does at start: the soft
/// default (often 1024) is meant for programs that use `select`, which Tollgate does not.
/// Returns the limit now in force; an unlimited or unreadable hard limit leaves it alone.
pub fn raise_descriptor_limit() -> std::io::Result<Option<u64>> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let limit = getrlimit(Resource::Nofile);
        if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
            if current < maximum {
                let raised = rustix::process::Rlimit {
                    current: Some(maximum),
                    maximum: Some(maximum),
                };
                setrlimit(Resource::Nofile, raised)?;
            }
        }
        Ok(descriptor_limit())
    }
    #[cfg(not(unix))]
    {
        Ok(None)
    }
}

/// The connection cap for a descriptor limit of `limit` and a database pool of `pool`
/// connections: the limit less room for everything else, at least half the limit (a tiny
/// limit is still shared), at most 10,000 (also when there is no limit).
pub fn default_max_connections(limit: Option<u64>, pool: u32) -> usize {
    let limit = limit.unwrap_or(u64::MAX);
    let reserved = RESERVED + PER_POOL_CONNECTION * u64::from(pool);
    let cap = limit.saturating_sub(reserved).max(limit / 2).clamp(1, MOST);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_pool_and_files_below_the_limit() {
        // 512 descriptors and a pool of 16: 512 - 128 - 64.
        assert_eq!(default_max_connections(Some(512), 16), 320);
        assert_eq!(default_max_connections(Some(200), 16), 100);
        assert_eq!(default_max_connections(Some(1 << 20), 16), 10_000);
        assert_eq!(default_max_connections(None, 16), 10_000);
    }

    #[test]
    fn the_descriptor_limit_is_read() {
        if cfg!(unix) {
            assert!(descriptor_limit().is_some_and(|n| n > 0));
        }
    }
}
