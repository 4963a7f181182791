//! Server-sent events, as a Streamable HTTP server may answer a request: the event stream is
//! read as it arrives and each event's `data` parsed as a JSON-RPC message, until the one
//! answering the request comes (notifications and requests of the server before it are
//! skipped).

/// Splits a byte stream into events' `data` (the WHATWG event stream format: lines ended by
/// LF, CRLF or CR; `data:` lines joined by LF; a blank line ends an event; comments and the
/// other fields ignored).
#[derive(Debug, Default)]
pub(super) struct Events {
    /// The start of a line not yet ended.
    line: Vec<u8>,
    /// The data of the event being read.
    data: Option<String>,
    /// A CR ended the last line: an LF right after it belongs to it.
    after_cr: bool,
}

impl Events {
    /// Takes the next bytes; answers the data of the events they complete.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut done = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::take(&mut self.after_cr);
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(data) = self.line_ended(&line) {
                        done.push(data);
                    }
                }
                _ => self.line.push(b),
            }
        }
        done
    }

    /// The end of the stream: the data of an event it left unfinished, if any.
    pub(super) fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            if let Some(data) = self.line_ended(&line) {
                return Some(data);
            }
        }
        self.data.take()
    }

    fn line_ended(&mut self, line: &[u8]) -> Option<String> {
        if line.is_empty() {
            return self.data.take();
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_by_blank_lines_whatever_the_line_endings_and_chunks() {
        let stream = b": comment\r\nevent: message\r\nid: 1\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata:x\n\ndata: y\r\rdata: z";
        for chunk in [1, 2, 5, stream.len()] {
            let mut events = Events::default();
            let mut seen = Vec::new();
            for part in stream.chunks(chunk) {
                seen.extend(events.feed(part));
            }
            seen.extend(events.finish());
            assert_eq!(
                seen,
                vec!["{\"a\":\n1}", "x", "y", "z"],
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn an_event_without_data_gives_nothing() {
        let mut events = Events::default();
        assert!(events.feed(b"event: ping\n\n: keepalive\n\n").is_empty());
        assert_eq!(events.finish(), None);
    }
}
