//! `tollgate serve` runs with glibc's allocator threshold fixed (see `src/malloc.rs`),
//! unless the operator set the allocator up.

use crate::Sandbox;

/// The environment of a running process, as `NAME=value` strings.
fn environment(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("reads the environment");
    raw.split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_server_started_without_allocator_settings_runs_with_the_threshold_fixed_in_the_same_process() {
    let sb = Sandbox::new();
    let server = sb.start();
    // The process the test started is the one answering: it replaced itself, same pid.
    let env = environment(server.pid());
    assert!(
        env.iter()
            .any(|v| v == "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072"),
        "{env:?}"
    );
    let (status, _) = crate::api_get(&server, "/api/v1/stats");
    assert_eq!(status, 200);
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn an_operators_own_allocator_settings_are_kept() {
    let sb = Sandbox::new();
    let server = sb.start_with_env(&[("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")]);
    let env = environment(server.pid());
    let tunables: Vec<&String> = env
        .iter()
        .filter(|v| v.starts_with("GLIBC_TUNABLES="))
        .collect();
    assert_eq!(tunables, ["GLIBC_TUNABLES=glibc.malloc.arena_max=2"]);
}
