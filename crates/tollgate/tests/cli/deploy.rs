//! The deployment examples keep what docs/operations.md promises: the Dockerfile builds a
//! small image that runs as a non-root user with a health check, compose.yaml runs PostgreSQL
//! and two instances sharing one signing key, and the systemd unit is one systemd accepts.
//!
//! No container builder runs here, so the Dockerfile and compose.yaml are read and checked for
//! those properties; the unit is also checked by `systemd-analyze verify` where it exists.

use std::collections::BTreeMap;
use std::process::Command;

use serde_yaml_ng::Value;

use super::repo_root;

fn read(name: &str) -> String {
    std::fs::read_to_string(repo_root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A Dockerfile's instructions, continuation lines joined and comments dropped, as
/// (INSTRUCTION, arguments).
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let (word, rest) = current.trim().split_once(' ').unwrap_or((&current, ""));
                out.push((word.to_ascii_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_as_a_non_root_user_with_a_health_check() {
    let steps = instructions(&read("Dockerfile"));
    let stages: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].0 == "FROM").collect();
    assert!(stages.len() >= 2, "a multi-stage build: {steps:?}");
    let build = &steps[stages[0]].1;
    assert!(
        build.contains(" AS build"),
        "the first stage is named build: {build}"
    );
    assert!(
        steps
            .iter()
            .any(|(i, a)| i == "RUN" && a.contains("cargo build --release --locked")),
        "the build uses the committed Cargo.lock"
    );

    let runtime = &steps[*stages.last().expect("a stage")..];
    let base = &runtime[0].1;
    assert!(
        !base.starts_with("rust"),
        "the runtime stage does not carry the toolchain: {base}"
    );
    let copies: Vec<&String> = runtime
        .iter()
        .filter(|(i, _)| i == "COPY")
        .map(|(_, a)| a)
        .collect();
    assert!(
        copies
            .iter()
            .any(|a| a.starts_with("--from=build") && a.ends_with("/usr/local/bin/tollgate")),
        "the runtime stage takes only the binary from the build: {copies:?}"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, a)| a.clone())
        .expect("the runtime stage sets a USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(
        !["root", "0", ""].contains(&name),
        "runs as a non-root user, not {user}"
    );
    let health = runtime
        .iter()
        .find(|(i, _)| i == "HEALTHCHECK")
        .map(|(_, a)| a.clone())
        .expect("the runtime stage declares a HEALTHCHECK");
    assert!(
        health.contains("\"tollgate\", \"health\"") || health.contains("/tollgate\", \"health\"")
    );
    assert!(runtime.iter().any(|(i, a)| i == "EXPOSE" && a == "8000"));
    assert!(runtime
        .iter()
        .any(|(i, a)| i == "ENV" && a.contains("TOLLGATE_LISTEN=0.0.0.0:8000")));

    let ignored = read(".dockerignore");
    for path in ["target", "tollgate-data", ".git"] {
        assert!(
            ignored.lines().any(|l| l.trim() == path),
            ".dockerignore keeps {path} out of the build context"
        );
    }
}

#[test]
fn the_image_health_check_command_exits_by_the_servers_health() {
    let sandbox = super::Sandbox::new();
    let server = sandbox.start();
    let healthy = sandbox.run(&["health", "--server", &server.url]).expect(0);
    assert!(
        healthy.stdout.starts_with("healthy: Tollgate"),
        "{}",
        healthy.stdout
    );
    let url = server.url.clone();
    drop(server);
    let gone = sandbox.run(&["health", "--server", &url]).expect(1);
    assert!(gone.stderr.contains("could not reach"), "{}", gone.stderr);
}

fn map<'a>(value: &'a Value, key: &str) -> &'a Value {
    value
        .get(key)
        .unwrap_or_else(|| panic!("compose.yaml: no `{key}` in {value:?}"))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A service's environment, from either form Compose accepts (a map or `NAME=VALUE` items).
fn environment(service: &Value) -> BTreeMap<String, String> {
    match map(service, "environment") {
        Value::Mapping(m) => m.iter().map(|(k, v)| (text(k), text(v))).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                let item = text(i);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        other => panic!("environment: {other:?}"),
    }
}

/// A service's volume mounts as (source, target).
fn mounts(service: &Value) -> Vec<(String, String)> {
    let Some(Value::Sequence(items)) = service.get("volumes") else {
        return Vec::new();
    };
    items
        .iter()
        .map(|i| {
            let item = text(i);
            let mut parts = item.split(':');
            let source = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            (source, target)
        })
        .collect()
}

#[test]
fn compose_runs_postgresql_and_two_instances_sharing_one_signing_key() {
    let compose: Value = serde_yaml_ng::from_str(&read("compose.yaml")).expect("compose.yaml");
    let services = map(&compose, "services");
    let declared: Vec<String> = match map(&compose, "volumes") {
        Value::Mapping(m) => m.keys().map(text).collect(),
        other => panic!("volumes: {other:?}"),
    };

    let postgres = map(services, "postgres");
    assert!(text(map(postgres, "image")).starts_with("postgres:"));
    let instances = ["tollgate-1", "tollgate-2"].map(|name| map(services, name));

    // Every service says how to tell it is healthy, and each starts after what it needs is.
    for (name, service) in [("postgres", postgres)]
        .into_iter()
        .chain(["tollgate-1", "tollgate-2"].into_iter().zip(instances))
    {
        let test = map(map(service, "healthcheck"), "test");
        assert!(
            matches!(test, Value::Sequence(items) if !items.is_empty()),
            "{name} declares a health check command"
        );
        for (source, _) in mounts(service) {
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(
                    declared.contains(&source),
                    "{name} mounts volume {source}, declared"
                );
            }
        }
    }
    let waits_for = |service: &Value, on: &str| {
        text(map(map(map(service, "depends_on"), on), "condition")) == "service_healthy"
    };
    assert!(waits_for(instances[0], "postgres"));
    assert!(
        waits_for(instances[1], "tollgate-1"),
        "the second instance starts once the first has migrated and made the key"
    );
    let health = text(&map(map(instances[0], "healthcheck"), "test")[2]);
    assert_eq!(
        health, "health",
        "instances are checked by `tollgate health`"
    );

    // One database, one signing key file and one archive directory, on a volume both mount.
    let [one, two] = instances.map(environment);
    assert_eq!(one, two, "both instances run with the same settings");
    let url = &one["TOLLGATE_DATABASE_URL"];
    assert!(
        url.starts_with("postgres://tollgate@postgres:5432/"),
        "{url}"
    );
    assert!(
        one.contains_key("PGPASSWORD"),
        "the password travels beside the URL, so no character of it can break the URL"
    );
    assert!(
        one["TOLLGATE_BOOTSTRAP_API_KEY"].starts_with("${"),
        "the operator key is chosen, not printed to the log"
    );
    for setting in [
        "TOLLGATE_RECEIPTS__SIGNING_KEY_FILE",
        "TOLLGATE_RETENTION__ARCHIVE_DIR",
    ] {
        let path = &one[setting];
        let shared: Vec<Vec<(String, String)>> = instances
            .iter()
            .map(|s| {
                mounts(s)
                    .into_iter()
                    .filter(|(_, target)| path.starts_with(&format!("{target}/")))
                    .collect()
            })
            .collect();
        assert!(
            !shared[0].is_empty() && shared[0] == shared[1],
            "{setting} ({path}) is on a volume both instances mount: {shared:?}"
        );
    }
    let ports: Vec<String> = instances
        .iter()
        .map(|s| text(&map(s, "ports")[0]))
        .collect();
    assert_ne!(ports[0], ports[1]);
}

/// The unit's `Key=value` lines, by key (a repeated key keeps its last value).
fn unit(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn the_systemd_unit_runs_the_server_unprivileged_and_systemd_accepts_it() {
    let source = read("deploy/tollgate.service");
    let keys = unit(&source);
    assert_eq!(keys["ExecStart"], "/usr/local/bin/tollgate serve");
    assert!(
        keys.get("User")
            .is_some_and(|u| !["root", "0"].contains(&u.as_str())),
        "runs as a user of its own"
    );
    assert_eq!(keys["StateDirectory"], "tollgate");
    assert_eq!(keys["Restart"], "on-failure");
    assert_eq!(keys["NoNewPrivileges"], "yes");
    assert_eq!(keys["ProtectSystem"], "strict");

    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit was checked by reading it");
        return;
    };
    assert!(probe.status.success());
    // systemd checks that ExecStart's program exists: point it at the binary just built.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("tollgate.service");
    let built = env!("CARGO_BIN_EXE_tollgate");
    std::fs::write(&copy, source.replace("/usr/local/bin/tollgate", built)).expect("writes");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("runs systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // It exits 0 even for an unknown key, so any complaint about the unit fails the test.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("tollgate.service"))
        .collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}
