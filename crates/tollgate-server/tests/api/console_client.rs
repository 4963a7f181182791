//! A browser without a browser for the console's HTTP tests: it keeps cookies, follows no
//! redirect, and signs in through the form as a person would. The pages themselves are driven
//! in Chromium by the `console` tests.

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_DISPOSITION, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::support::TestApp;

/// A cookie-keeping client of one app.
pub struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    /// The cookies it holds, by name.
    pub cookies: BTreeMap<String, String>,
}

/// What a request answered.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    /// The `Content-Security-Policy` header.
    pub csp: Option<String>,
    /// The `Content-Disposition` header of a download.
    pub disposition: Option<String>,
    pub body: String,
}

impl<'a> Browser<'a> {
    /// A browser with no cookies.
    pub fn new(app: &'a TestApp) -> Browser<'a> {
        Browser {
            app,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    /// A browser signed in with the app's own key.
    pub async fn signed_in(app: &'a TestApp) -> Browser<'a> {
        let mut b = Browser::new(app);
        let signed = b.sign_in(&app.key).await;
        assert_eq!(signed.status, 303, "signing in: {}", signed.body);
        b
    }

    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let resp = req
            .header(COOKIE, cookie.join("; "))
            .send()
            .await
            .expect("send");
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ascii").to_string())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().expect("a pair");
            let (k, v) = pair.split_once('=').expect("name=value");
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().expect("ascii").to_string())
        };
        Page {
            status: resp.status().as_u16(),
            location: header(LOCATION),
            csp: header(reqwest::header::CONTENT_SECURITY_POLICY),
            disposition: header(CONTENT_DISPOSITION),
            set_cookies,
            body: resp.text().await.expect("body"),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.app.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self
            .http
            .post(format!("{}{path}", self.app.base))
            .form(form);
        self.send(req).await
    }

    /// Signs in with `credential` through the form, as a person would.
    pub async fn sign_in(&mut self, credential: &str) -> Page {
        let form = self.get("/ui/sign-in?next=%2Fui%2F").await;
        let csrf = hidden(&form.body, "csrf");
        self.post(
            "/ui/sign-in",
            &[
                ("csrf", &csrf),
                ("next", "/ui/"),
                ("credential", credential),
            ],
        )
        .await
    }
}

/// The value of the hidden input `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').expect("a closing quote") + start;
    html[start..end].to_string()
}
