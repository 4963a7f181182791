//! Output for people (tables) and for scripts (`--json`), and the one way the commands write
//! to standard output: [`outln!`] and [`out!`] instead of `println!` (which panics when the
//! reader has gone, as in `tollgate openapi | head -1`). A closed pipe ends the program
//! quietly with [`CLOSED_PIPE`], as a Unix tool killed by SIGPIPE would.

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde::Serialize;

/// The exit status when standard output's reader has gone: 128 + SIGPIPE, what a shell
/// reports for a C tool killed by the signal, so `set -o pipefail` scripts see the output
/// was cut short (it may have been a verdict) rather than a success.
pub const CLOSED_PIPE: u8 = 141;

/// `println!` that ends the program quietly when standard output is a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that ends the program quietly when standard output is a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};

/// Writes to standard output. When that fails the program ends here: quietly with
/// [`CLOSED_PIPE`] when the reader went away, otherwise with the error and status 1 (a full
/// disk under `> file`), rather than a panic.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        exit_on_stdout_error(&e);
    }
}

/// Writes bytes to standard output and flushes them, ending the program as [`write_stdout`]
/// does when that fails.
pub fn write_stdout_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        exit_on_stdout_error(&e);
    }
}

fn exit_on_stdout_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(i32::from(CLOSED_PIPE));
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(1);
}

/// Whether an error is standard output's reader having gone (a command that streams through
/// its own writer returns it as an error rather than ending in [`write_stdout`]).
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().map(|e| e.kind());
        // serde_json's error hides the io error it wraps from `source()`.
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// A table with a header row.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// Pretty JSON of any value (a wire type, or a `Value`).
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .expect("wire types and JSON values have string keys, so they always serialize")
}

/// A two-column table of labelled values, for one object.
pub fn fields(rows: Vec<(&str, String)>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    for (label, value) in rows {
        t.add_row(vec![label.to_string(), value]);
    }
    t.to_string()
}
