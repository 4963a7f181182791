//! Trailing slashes as llmring's server answers them: a path that no route serves, but that
//! one would with a trailing slash added or removed, gets 307 to that path (a 307 keeps the
//! method and the body), with an absolute `Location` built from the request's `Host` and the
//! query string kept. `/health/` → `/health`, `/registry` → `/registry/`.
//!
//! The served paths are the route templates of the registration (the OpenAPI paths, aliases
//! included), so no route is listed here; a `{param}` segment matches any non-empty segment.
//! A path that matches nothing either way stays a 404.

use axum::extract::Request;
use axum::http::header::{HOST, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One segment of a route template.
enum Segment {
    /// Text that must be there as written.
    Literal(String),
    /// `pre{name}post`: any segment with that prefix and suffix and something between.
    Param { prefix: String, suffix: String },
    /// `{*rest}`: one or more segments.
    Rest,
}

impl Segment {
    fn parse(s: &str) -> Segment {
        if s.starts_with("{*") {
            return Segment::Rest;
        }
        match (s.find('{'), s.rfind('}')) {
            (Some(open), Some(close)) if open < close => Segment::Param {
                prefix: s[..open].to_string(),
                suffix: s[close + 1..].to_string(),
            },
            _ => Segment::Literal(s.to_string()),
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Segment::Literal(l) => l == s,
            Segment::Param { prefix, suffix } => {
                s.len() > prefix.len() + suffix.len()
                    && s.starts_with(prefix.as_str())
                    && s.ends_with(suffix.as_str())
            }
            Segment::Rest => !s.is_empty(),
        }
    }
}

/// The paths the router serves, as templates.
pub(crate) struct Served(Vec<Vec<Segment>>);

impl Served {
    /// From the route templates (`/api/v1/receipts/{receipt_id}`).
    pub(crate) fn new<'a>(templates: impl IntoIterator<Item = &'a String>) -> Served {
        Served(
            templates
                .into_iter()
                .map(|t| t.split('/').map(Segment::parse).collect())
                .collect(),
        )
    }

    /// Whether some route serves `path` (for some method).
    fn serves(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().any(|template| {
            let rest = matches!(template.last(), Some(Segment::Rest));
            let fixed = template.len() - usize::from(rest);
            let long_enough = if rest {
                segments.len() > fixed
            } else {
                segments.len() == fixed
            };
            long_enough
                && template[..fixed]
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.matches(s))
                && (!rest || segments[fixed..].iter().any(|s| !s.is_empty()))
        })
    }

    /// The 307 for a request no route serves, when the same path with its trailing slash
    /// toggled is served.
    pub(crate) fn redirect(&self, req: &Request) -> Option<Response> {
        let path = req.uri().path();
        let toggled = match path.strip_suffix('/') {
            Some("") => return None,
            Some(without) => without.to_string(),
            None => format!("{path}/"),
        };
        if self.serves(path) || !self.serves(&toggled) {
            return None;
        }
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let target = match origin(req) {
            Some(origin) => format!("{origin}{toggled}{query}"),
            None => format!("{toggled}{query}"),
        };
        let location = HeaderValue::from_str(&target).ok()?;
        Some((StatusCode::TEMPORARY_REDIRECT, [(LOCATION, location)]).into_response())
    }
}

/// `scheme://host[:port]` of the request, from `Host` (or the URI's authority) and
/// `X-Forwarded-Proto` (http or https; http otherwise). None when there is no host or it is
/// not a plain host name or address, and then the `Location` is the path alone.
fn origin(req: &Request) -> Option<String> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))?;
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    if !plain {
        return None;
    }
    let scheme = match req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .map(|p| p.trim().to_ascii_lowercase())
    {
        Some(p) if p == "https" => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Served {
        let templates: Vec<String> = [
            "/",
            "/health",
            "/registry/",
            "/registry/{provider}/models.json",
            "/api/v1/receipts/{receipt_id}",
            "/files/{*rest}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Served::new(&templates)
    }

    fn location(path_and_query: &str) -> Option<String> {
        let req = Request::builder()
            .uri(path_and_query)
            .header(HOST, "example.test:8080")
            .body(axum::body::Body::empty())
            .expect("request");
        served().redirect(&req).map(|r| {
            assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
            r.headers()[LOCATION].to_str().expect("ascii").to_string()
        })
    }

    #[test]
    fn a_toggled_slash_that_a_route_serves_redirects_with_the_query() {
        assert_eq!(
            location("/health/").as_deref(),
            Some("http://example.test:8080/health")
        );
        assert_eq!(
            location("/registry?providers=openai").as_deref(),
            Some("http://example.test:8080/registry/?providers=openai")
        );
        assert_eq!(
            location("/registry/openai/models.json/").as_deref(),
            Some("http://example.test:8080/registry/openai/models.json")
        );
    }

    #[test]
    fn paths_served_as_sent_or_not_served_either_way_do_not_redirect() {
        assert_eq!(location("/health"), None);
        assert_eq!(location("/"), None);
        assert_eq!(location("/nothing/"), None);
        // A parameter never matches an empty segment.
        assert_eq!(location("/api/v1/receipts"), None);
        assert_eq!(location("/files/a/b/"), None);
    }
}
