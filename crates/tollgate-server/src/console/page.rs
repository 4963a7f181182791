//! What every console page shares: the frame around it (header, navigation by what the
//! viewer may do, who is signed in), how a page becomes a response with the console's
//! security headers, and the one error view.

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_store::Scope;

use super::session::Viewer;
use crate::error::ApiError;

/// Scripts and styles come from the console's own assets only; nothing is framed or
/// referred elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// One entry of the navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Whether it is the current page's.
    pub current: bool,
}

/// The frame of a page: title, navigation, who is signed in and the form token.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page's title.
    pub title: String,
    /// The navigation the viewer may use.
    pub nav: Vec<NavItem>,
    /// Who is signed in.
    pub viewer: String,
    /// The tenant the session acts on.
    pub tenant: String,
    /// The session's CSRF token, for the sign-out form and the page's own forms.
    pub csrf: String,
    /// Whether the viewer may read the tenant's usage (pages link what needs it only then).
    pub can_read: bool,
}

impl Chrome {
    /// The frame for `viewer` on the page whose navigation entry is `current`.
    pub fn new(viewer: &Viewer, title: impl Into<String>, current: &str) -> Chrome {
        let mut nav: Vec<(&'static str, &'static str)> = Vec::new();
        if viewer.is_user() {
            nav.push(("/ui/", "My account"));
        } else {
            if viewer.can(Scope::Read) {
                nav.push(("/ui/", "Overview"));
                nav.push(("/ui/logs", "Logs"));
                nav.push(("/ui/receipts", "Receipts"));
            }
            if viewer.can(Scope::Read) {
                nav.push(("/ui/accounts", "Accounts"));
            }
            if viewer.can(Scope::Admin) {
                nav.push(("/ui/operate", "Operate"));
            }
            if viewer.is_operator() {
                nav.push(("/ui/tenants", "Tenants"));
            }
        }
        Chrome {
            title: title.into(),
            nav: nav
                .into_iter()
                .map(|(href, label)| NavItem {
                    href,
                    label,
                    current: href == current,
                })
                .collect(),
            viewer: viewer.label(),
            tenant: viewer.tenant_name.clone(),
            csrf: viewer.session.csrf_token.clone(),
            can_read: viewer.can(Scope::Read),
        }
    }
}

/// A rendered page with the console's headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

/// Renders `page` as a 200.
pub fn render<T: Template>(page: &T) -> Result<Response, ConsoleError> {
    let body = page.render().map_err(|e| {
        ConsoleError::Api(ApiError::internal(format!(
            "a console page failed to render: {e}"
        )))
    })?;
    Ok(html(StatusCode::OK, body))
}

/// The one error view: what went wrong, in words, and the way back.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    status: u16,
    reason: String,
    message: String,
}

/// Why a console request failed: shown as a page, never as JSON.
#[derive(Debug)]
pub enum ConsoleError {
    /// What the API would have answered.
    Api(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> ConsoleError {
        ConsoleError::Api(e)
    }
}

impl From<tollgate_store::StoreError> for ConsoleError {
    fn from(e: tollgate_store::StoreError) -> ConsoleError {
        ConsoleError::Api(e.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let ConsoleError::Api(e) = self;
        let status = e.status();
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error").to_string(),
            message: e.message().to_string(),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {}", page.status, page.reason));
        html(status, body)
    }
}
