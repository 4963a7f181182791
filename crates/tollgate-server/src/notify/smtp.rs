//! A small SMTP client (RFC 5321) for alert email: one connection per message, EHLO,
//! STARTTLS or implicit TLS (rustls, the web's root certificates), AUTH PLAIN or LOGIN, one
//! MAIL/RCPT/DATA with dot-stuffing, QUIT.
//!
//! What it sends to a person must not be forged by data: header values are stripped of line
//! breaks, and addresses are checked before they get here. A 4xx reply or a broken connection
//! is worth retrying; a 5xx reply is final.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::settings::{SmtpSettings, SmtpTls};

/// The longest reply line read, and the most lines in one reply.
const MAX_LINE: usize = 4096;
const MAX_LINES: usize = 100;

/// What went wrong with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpError {
    /// The server's reply code, when it answered.
    pub code: Option<u16>,
    /// What a person reads in the delivery log (no server internals).
    pub message: String,
    /// The full story, for the server's log.
    pub detail: String,
    /// Whether another attempt may succeed.
    pub transient: bool,
}

impl SmtpError {
    fn io(what: &str, e: impl std::fmt::Display) -> SmtpError {
        SmtpError {
            code: None,
            message: what.into(),
            detail: format!("{what}: {e}"),
            transient: true,
        }
    }

    fn reply(step: &str, r: &Reply) -> SmtpError {
        SmtpError {
            code: Some(r.code),
            message: format!("the mail server answered {} to {step}", r.code),
            detail: format!("{step}: {} {}", r.code, r.text.join(" / ")),
            transient: r.code < 500,
        }
    }
}

/// One message to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The address (already checked).
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// A unique id for the `Message-ID` header (left part).
    pub id: String,
}

/// The configured server, ready to send.
pub struct Mailer {
    host: String,
    port: u16,
    tls: SmtpTls,
    login: Option<(String, SecretString)>,
    from_header: String,
    from_address: String,
    ehlo: String,
    timeout: Duration,
    connector: tokio_rustls::TlsConnector,
}

/// The address inside `Name <addr>`, or the whole text; checked as [`check_address`] does.
pub fn envelope_address(from: &str) -> Result<String, String> {
    let from = from.trim();
    let addr = match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close && close == from.len() - 1 => {
            &from[open + 1..close]
        }
        (None, None) => from,
        _ => return Err(format!("'{from}' is not an address or 'Name <address>'")),
    };
    check_address(addr)?;
    Ok(addr.to_string())
}

/// A plain address, `local@domain`, of at most 254 characters, without spaces, angle
/// brackets, quotes, commas, semicolons or control characters.
pub fn check_address(addr: &str) -> Result<(), String> {
    let bad = || format!("'{addr}' is not an email address like name@example.com");
    if addr.is_empty() || addr.len() > 254 {
        return Err(bad());
    }
    if addr
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "<>\"',;()[]\\".contains(c))
    {
        return Err(bad());
    }
    let (local, domain) = addr.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.contains('@')
        || domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(())
}

/// A header value on one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A header value, RFC 2047-encoded when it is not plain ASCII.
fn header_text(text: &str) -> String {
    let line = one_line(text);
    if line.is_ascii() {
        line
    } else {
        format!("=?utf-8?B?{}?=", STANDARD.encode(line.as_bytes()))
    }
}

impl Mailer {
    /// Checks the settings.
    pub fn from_settings(s: &SmtpSettings) -> Result<Mailer, String> {
        let host = s.host.trim().to_string();
        if host.is_empty() {
            return Err("notifications.smtp.host must name the SMTP server".into());
        }
        let from_address =
            envelope_address(&s.from).map_err(|why| format!("notifications.smtp.from: {why}"))?;
        let login = match (&s.username, &s.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u.clone(), p.clone())),
            (Some(u), None) if !u.is_empty() => {
                return Err("notifications.smtp.username is set without a password".into())
            }
            _ => None,
        };
        if s.timeout_ms == 0 {
            return Err("notifications.smtp.timeout_ms must be at least 1".into());
        }
        let port = s.port.unwrap_or(match s.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS for the SMTP server: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Mailer {
            host,
            port,
            tls: s.tls,
            login,
            from_header: one_line(s.from.trim()),
            from_address,
            ehlo: one_line(s.ehlo_name.as_deref().unwrap_or("localhost")),
            timeout: Duration::from_millis(s.timeout_ms),
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// How long one message may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one message; the final reply code on success.
    pub async fn send(&self, mail: &Mail) -> Result<u16, SmtpError> {
        match tokio::time::timeout(self.timeout, self.session(mail)).await {
            Ok(result) => result,
            Err(_) => Err(SmtpError::io("timed out", "the mail server took too long")),
        }
    }

    async fn session(&self, mail: &Mail) -> Result<u16, SmtpError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| SmtpError::io("connection failed", e))?;
        let mut io: Box<dyn Io> = Box::new(tcp);
        if self.tls == SmtpTls::Tls {
            io = self.wrap(io).await?;
        }
        let mut c = Conn::new(io);
        c.expect("the greeting", None, 220).await?;
        let mut ext = c.ehlo(&self.ehlo).await?;
        if self.tls == SmtpTls::Starttls {
            if !ext.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS")) {
                return Err(SmtpError {
                    code: None,
                    message: "the mail server does not offer STARTTLS".into(),
                    detail: format!("EHLO extensions: {}", ext.join(", ")),
                    transient: true,
                });
            }
            c.expect("STARTTLS", Some("STARTTLS"), 220).await?;
            let io = self.wrap(c.into_inner()).await?;
            c = Conn::new(io);
            ext = c.ehlo(&self.ehlo).await?;
        }
        if let Some((user, password)) = &self.login {
            c.login(&ext, user, password).await?;
        }
        c.expect(
            "MAIL FROM",
            Some(&format!("MAIL FROM:<{}>", self.from_address)),
            250,
        )
        .await?;
        let r = c.command(&format!("RCPT TO:<{}>", mail.to)).await?;
        if r.code != 250 && r.code != 251 {
            return Err(SmtpError::reply("RCPT TO", &r));
        }
        c.expect("DATA", Some("DATA"), 354).await?;
        c.write(&stuffed(&self.message(mail))).await?;
        let done = c.expect("the message", Some("."), 250).await?;
        // The message is accepted; how QUIT goes does not change that.
        let _ = c.command("QUIT").await;
        Ok(done.code)
    }

    async fn wrap(&self, io: Box<dyn Io>) -> Result<Box<dyn Io>, SmtpError> {
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| SmtpError::io("TLS failed", e))?;
        let tls = self
            .connector
            .connect(name, io)
            .await
            .map_err(|e| SmtpError::io("TLS failed", e))?;
        Ok(Box::new(tls))
    }

    /// The message: headers and a text body (8bit when ASCII, base64 otherwise).
    fn message(&self, mail: &Mail) -> String {
        let domain = self
            .from_address
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("tollgate");
        let (encoding, body) = if mail.text.is_ascii() {
            ("7bit", mail.text.replace("\r\n", "\n"))
        } else {
            let b64 = STANDARD.encode(mail.text.as_bytes());
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect();
            ("base64", lines.join("\n"))
        };
        let head = [
            format!("From: {}", self.from_header),
            format!("To: <{}>", mail.to),
            format!("Subject: {}", header_text(&mail.subject)),
            format!("Date: {}", chrono::Utc::now().to_rfc2822()),
            format!("Message-ID: <{}@{domain}>", one_line(&mail.id)),
            "MIME-Version: 1.0".into(),
            "Content-Type: text/plain; charset=utf-8".into(),
            format!("Content-Transfer-Encoding: {encoding}"),
            "Auto-Submitted: auto-generated".into(),
        ];
        format!("{}\n\n{body}", head.join("\n"))
    }
}

/// The message with CRLF line ends, every line starting with '.' doubled, and the final
/// line's end; the lone '.' that closes DATA is sent as the next command.
fn stuffed(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 64);
    for line in message.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// A connection's stream, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A reply: its code and its lines' text.
#[derive(Debug)]
struct Reply {
    code: u16,
    text: Vec<String>,
}

struct Conn {
    io: BufReader<Box<dyn Io>>,
}

impl Conn {
    fn new(io: Box<dyn Io>) -> Conn {
        Conn {
            io: BufReader::new(io),
        }
    }

    fn into_inner(self) -> Box<dyn Io> {
        self.io.into_inner()
    }

    async fn write(&mut self, text: &str) -> Result<(), SmtpError> {
        let w = self.io.get_mut();
        w.write_all(text.as_bytes())
            .await
            .map_err(|e| SmtpError::io("connection failed", e))?;
        w.flush()
            .await
            .map_err(|e| SmtpError::io("connection failed", e))
    }

    async fn read_reply(&mut self) -> Result<Reply, SmtpError> {
        let mut text = Vec::new();
        for _ in 0..MAX_LINES {
            let mut raw = Vec::new();
            let n = (&mut self.io)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut raw)
                .await
                .map_err(|e| SmtpError::io("connection failed", e))?;
            if n == 0 {
                return Err(SmtpError::io("connection failed", "closed by the server"));
            }
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| SmtpError::io("the mail server's reply is unreadable", line))?;
            text.push(line.get(4..).unwrap_or_default().to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, text });
            }
        }
        Err(SmtpError::io(
            "the mail server's reply is unreadable",
            "too many lines",
        ))
    }

    async fn command(&mut self, line: &str) -> Result<Reply, SmtpError> {
        self.write(&format!("{line}\r\n")).await?;
        self.read_reply().await
    }

    /// Sends `line` (None: only reads) and wants `code`.
    async fn expect(
        &mut self,
        step: &str,
        line: Option<&str>,
        code: u16,
    ) -> Result<Reply, SmtpError> {
        let r = match line {
            Some(l) => self.command(l).await?,
            None => self.read_reply().await?,
        };
        if r.code == code {
            Ok(r)
        } else {
            Err(SmtpError::reply(step, &r))
        }
    }

    /// EHLO; the extensions offered (the reply's lines after the first).
    async fn ehlo(&mut self, name: &str) -> Result<Vec<String>, SmtpError> {
        let r = self
            .expect("EHLO", Some(&format!("EHLO {name}")), 250)
            .await?;
        Ok(r.text.into_iter().skip(1).collect())
    }

    async fn login(
        &mut self,
        ext: &[String],
        user: &str,
        password: &SecretString,
    ) -> Result<(), SmtpError> {
        let mechanisms: Vec<String> = ext
            .iter()
            .filter_map(|l| {
                let upper = l.to_ascii_uppercase();
                upper
                    .strip_prefix("AUTH ")
                    .or_else(|| upper.strip_prefix("AUTH="))
                    .map(str::to_string)
            })
            .flat_map(|m| m.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        let password = password.expose_secret();
        if mechanisms.iter().any(|m| m == "PLAIN") {
            let token = STANDARD.encode(format!("\0{user}\0{password}"));
            self.expect("AUTH PLAIN", Some(&format!("AUTH PLAIN {token}")), 235)
                .await?;
        } else if mechanisms.iter().any(|m| m == "LOGIN") {
            self.expect("AUTH LOGIN", Some("AUTH LOGIN"), 334).await?;
            self.expect("AUTH LOGIN", Some(&STANDARD.encode(user)), 334)
                .await?;
            self.expect("AUTH LOGIN", Some(&STANDARD.encode(password)), 235)
                .await?;
        } else {
            return Err(SmtpError {
                code: None,
                message: "the mail server offers no login this client knows (PLAIN, LOGIN)".into(),
                detail: format!("EHLO extensions: {}", ext.join(", ")),
                transient: false,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_starting_with_a_dot_are_doubled_and_every_line_ends_in_crlf() {
        assert_eq!(stuffed("a\n.b\n..c\r\nd"), "a\r\n..b\r\n...c\r\nd\r\n");
    }

    #[test]
    fn header_values_cannot_carry_a_line_break() {
        assert_eq!(header_text("hi\r\nBcc: x@y"), "hi  Bcc: x@y");
        assert!(header_text("Grüße").starts_with("=?utf-8?B?"));
    }

    #[test]
    fn addresses_are_plain_and_the_envelope_comes_from_the_angle_brackets() {
        assert_eq!(
            envelope_address("Tollgate <alerts@example.com>").as_deref(),
            Ok("alerts@example.com")
        );
        assert_eq!(envelope_address("a@b.c").as_deref(), Ok("a@b.c"));
        for bad in [
            "",
            "a",
            "@b",
            "a@",
            "a b@c",
            "a@b..c",
            "<a@b>x",
            "a@b>\r\nRCPT",
        ] {
            assert!(envelope_address(bad).is_err(), "{bad}");
        }
    }
}
