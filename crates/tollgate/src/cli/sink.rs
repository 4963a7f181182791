//! Where a command writes a document (an export, a statement, the OpenAPI document): the file
//! `-o FILE` names, or standard output for `-o -` or no `-o` at all, so every such command
//! pipes the same way.
//!
//! Every document the CLI writes is text (CSV, JSON, JSON lines, HTML), so standard output is
//! always allowed. A file is written beside its final name and renamed only once complete,
//! so a failure never leaves a file that looks whole.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::output::write_stdout_bytes;

/// Where a document goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output (`-o -`, or no `-o`).
    Stdout,
    /// A file, created or replaced.
    File(PathBuf),
}

impl Output {
    /// Reads an `-o` argument: `-` is standard output, anything else a file.
    pub fn parse(text: &str) -> Result<Output, String> {
        match text {
            "" => Err("give a file name, or - for standard output".into()),
            "-" => Ok(Output::Stdout),
            path => Ok(Output::File(PathBuf::from(path))),
        }
    }

    /// The destination for people: the file's path, or `standard output`.
    pub fn describe(&self) -> String {
        match self {
            Output::Stdout => "standard output".into(),
            Output::File(path) => path.display().to_string(),
        }
    }

    /// Writes a whole document.
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Output::Stdout => {
                write_stdout_bytes(bytes);
                Ok(())
            }
            Output::File(_) => {
                let mut sink = self.open()?;
                sink.write_all(bytes)?;
                sink.finish()
            }
        }
    }

    /// A writer for a document that arrives in pieces; [`Sink::finish`] completes it.
    pub fn open(&self) -> anyhow::Result<Sink> {
        Ok(match self {
            Output::Stdout => Sink {
                out: BufWriter::new(Box::new(std::io::stdout().lock())),
                file: None,
            },
            Output::File(path) => {
                let mut partial = path.as_os_str().to_owned();
                partial.push(".part");
                let partial = PathBuf::from(partial);
                let file = std::fs::File::create(&partial)
                    .with_context(|| format!("cannot create {}", partial.display()))?;
                Sink {
                    out: BufWriter::new(Box::new(file)),
                    file: Some(Pending {
                        partial,
                        path: path.clone(),
                    }),
                }
            }
        })
    }
}

/// A file being written: its temporary name and the name it gets when complete.
struct Pending {
    partial: PathBuf,
    path: PathBuf,
}

/// A document being written; dropped without [`Sink::finish`], a file's partial copy is
/// deleted.
pub struct Sink {
    out: BufWriter<Box<dyn Write>>,
    file: Option<Pending>,
}

impl Sink {
    /// Flushes the document and, for a file, gives it its final name.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        if let Some(p) = self.file.take() {
            if let Err(e) = std::fs::rename(&p.partial, &p.path) {
                let _ = std::fs::remove_file(&p.partial);
                return Err(e).with_context(|| {
                    format!(
                        "cannot move {} to {}",
                        p.partial.display(),
                        p.path.display()
                    )
                });
            }
        }
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(p) = &self.file {
            let _ = std::fs::remove_file(&p.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_is_standard_output_and_anything_else_a_file() {
        assert_eq!(Output::parse("-"), Ok(Output::Stdout));
        assert_eq!(Output::parse("./-"), Ok(Output::File(PathBuf::from("./-"))));
        assert!(Output::parse("").is_err());
    }

    #[test]
    fn a_file_appears_only_once_finished() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("doc.csv");
        let out = Output::File(path.clone());
        let mut sink = out.open().expect("opens");
        sink.write_all(b"a,b\n").expect("writes");
        drop(sink);
        assert!(!path.exists() && !dir.path().join("doc.csv.part").exists());
        out.write(b"a,b\n").expect("writes");
        assert_eq!(std::fs::read(&path).expect("the file"), b"a,b\n");
    }
}
