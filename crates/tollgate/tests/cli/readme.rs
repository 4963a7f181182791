//! The README is the front door: its first-hour walkthrough runs, as written, against a real
//! server, and every page it (or a page under `docs/`) links to exists.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{repo_root, Ran, Sandbox};

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The shell commands of the README's walkthrough: every ```sh block between the
/// `<!-- walkthrough -->` markers, in order.
fn walkthrough(readme: &str) -> String {
    let start = readme
        .find("<!-- walkthrough -->")
        .expect("the README marks its walkthrough with <!-- walkthrough -->");
    let end = readme[start..]
        .find("<!-- /walkthrough -->")
        .map(|e| start + e)
        .expect("the README ends its walkthrough with <!-- /walkthrough -->");
    let mut script = String::new();
    let mut in_block = false;
    for line in readme[start..end].lines() {
        match line.trim() {
            "```sh" => in_block = true,
            "```" => in_block = false,
            _ if in_block => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    assert!(!script.trim().is_empty(), "the walkthrough has no commands");
    script
}

#[test]
fn the_readme_is_read_in_five_minutes() {
    let lines = readme().lines().count();
    assert!(
        lines < 200,
        "README.md has {lines} lines; detail belongs in docs/"
    );
}

#[test]
fn the_readme_walkthrough_runs_as_written_against_a_real_server() {
    let sandbox = Sandbox::new();
    // As a person would: `tollgate serve` with no settings, data in ./tollgate-data.
    let server = sandbox.start_serving(&[], &[]);
    let bin = Path::new(env!("CARGO_BIN_EXE_tollgate"))
        .parent()
        .expect("the binary's directory");
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let script = format!("set -euo pipefail\nset -x\n{}", walkthrough(&readme()));
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(&script)
        .current_dir(sandbox.path(""))
        .stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("TOLLGATE_") {
            bash.env_remove(name);
        }
    }
    let ran = Ran::from(
        bash.env("PATH", path)
            .env("TOLLGATE_URL", &server.url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("runs bash"),
    )
    .expect(0);

    // Alice paid 5 USD; the call used 1,800 + 650 tokens of gpt-4o (2.50 and 10.00 USD per
    // million): 0.0045 + 0.0065 = 0.011 USD, so 4.989 USD remain and nothing is held.
    assert!(ran.stdout.contains("4.989"), "{}", ran.stdout);
    assert!(ran.stdout.contains("VALID"), "{}", ran.stdout);
    let receipt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.path("receipt.json")).expect("the receipt file"),
    )
    .expect("receipt JSON");
    assert_eq!(receipt["amounts"]["USD"]["total_cost"], "0.011000000");
    assert_eq!(receipt["certified"]["count"], 1);
}

/// Relative links (`[text](path)`) of a Markdown file, without their `#anchor`.
fn local_links(markdown: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = markdown;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        let path = target.split('#').next().unwrap_or_default();
        if !path.is_empty() && !target.contains("://") && !target.contains(' ') {
            links.push(path.to_string());
        }
    }
    links
}

#[test]
fn every_page_the_readme_and_the_docs_link_to_exists() {
    let root = repo_root();
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a docs entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut missing = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("a page");
        let dir = page.parent().expect("a page's directory");
        for link in local_links(&text) {
            if !dir.join(&link).exists() {
                missing.push(format!("{} links to {link}", page.display()));
            }
        }
    }
    assert!(missing.is_empty(), "broken links:\n{}", missing.join("\n"));
}
