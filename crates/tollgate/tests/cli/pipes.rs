//! A reader that stops early (`tollgate … | head -1`) ends any command quietly with 141, as
//! a Unix tool killed by SIGPIPE would: no panic, no error on standard error.

use super::{log_batch, Ran, Sandbox, KEY};

/// The command ended as a closed pipe should end it: 141 and nothing on standard error.
#[track_caller]
fn ended_quietly(first: &str, ran: &Ran) {
    assert!(
        !first.is_empty(),
        "it printed a line before the pipe closed"
    );
    assert_eq!(ran.code, 141, "exit status\n--- stderr\n{}", ran.stderr);
    assert!(
        !ran.stderr.contains("panicked") && !ran.stderr.contains("Broken pipe"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stderr, "", "nothing on standard error");
}

#[test]
fn openapi_into_a_pipe_closed_after_one_line_exits_141_without_a_panic() {
    let sb = Sandbox::new();
    let (first, ran) = sb.run_into_closed_pipe(&["openapi"]);
    assert_eq!(first, "{\n");
    ended_quietly(&first, &ran);
}

#[test]
fn a_table_and_an_export_into_a_pipe_closed_after_one_line_exit_141_without_a_panic() {
    let sb = Sandbox::new();
    let server = sb.start();
    // Enough rows that the output outgrows the pipe's buffer: the command is still writing
    // when the reader goes.
    log_batch(&server, 1000);
    let client = ["--server", server.url.as_str(), "--api-key", KEY];

    let mut table = vec!["usage", "logs", "--limit", "500"];
    table.extend(client);
    let (first, ran) = sb.run_into_closed_pipe(&table);
    assert!(first.starts_with('┌'), "{first}: {}", ran.stderr);
    ended_quietly(&first, &ran);

    let mut export = vec!["export", "usage"];
    export.extend(client);
    let (first, ran) = sb.run_into_closed_pipe(&export);
    assert!(first.starts_with("seq,id,"), "{first}: {}", ran.stderr);
    ended_quietly(&first, &ran);
}
