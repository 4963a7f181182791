//! What the console's browser tests share: the API tests' server (`TestApp`, one per engine),
//! signing in through the page as a person would, end-user tokens, and seeded usage.

#[allow(
    dead_code,
    reason = "the API tests' helpers; the console tests use some of them"
)]
#[path = "../api/support.rs"]
mod app;

pub use app::*;

use jsonwebtoken::{encode, get_current_timestamp, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::json;
use tollgate_server::settings::{JwtAlgorithm, JwtSettings};
use tollgate_server::Settings;

use crate::browser::Page;

const ISSUER: &str = "https://auth.example.test/";
const AUDIENCE: &str = "tollgate-console-tests";
const SECRET: &str = "a-console-test-secret-of-32-bytes-or-more";

/// Settings that accept end users' HS256 tokens.
pub fn with_jwt(s: &mut Settings) {
    s.auth.jwt = Some(JwtSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        algorithm: JwtAlgorithm::Hs256,
        secret: Some(SecretString::from(SECRET)),
        public_key_file: None,
        tenant_claim: "tenant".into(),
        leeway_seconds: 30,
    });
}

/// A token for `user` of the app's own tenant, valid for an hour.
pub fn token_for(app: &TestApp, user: &str) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": user, "tenant": app.tenant_id,
        "iat": get_current_timestamp(), "exp": get_current_timestamp() + 3600,
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("a token signs")
}

/// Signs `page` in with `credential` through the sign-in form and waits for the first page.
pub async fn sign_in(page: &Page, app: &TestApp, credential: &str) {
    page.goto(&format!("{}/ui/sign-in", app.base)).await;
    page.fill("#credential", credential).await;
    page.submit("form").await;
    page.wait_for("main h1").await;
    let url = page.url().await;
    assert!(
        !url.contains("/ui/sign-in"),
        "signing in failed on {}: {}",
        app.engine(),
        page.text("main").await
    );
}

/// Shows `page` at a phone's size (390 x 844), saves the screenshot `name`, and checks that
/// nothing is wider than the phone.
pub async fn phone(page: &Page, name: &str) {
    page.set_viewport(390, 844, true).await;
    page.screenshot(name).await;
    let width = page
        .eval("document.documentElement.scrollWidth")
        .await
        .as_i64()
        .expect("a width");
    assert!(
        width <= 390,
        "{name}: nothing overflows a phone's width: {width}"
    );
}
