//! Tests of the browser driver itself, against a tiny server of fixed pages: a sign-in form whose
//! answer sets a cookie, a page that reports who the cookie says you are, and a broken page.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use axum::Router;

use crate::browser::Browser;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

fn page(title: &str, body: &str) -> Html<String> {
    // The viewport tag is what lets a phone viewport be device-wide rather than 980 px.
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body>{body}</body></html>"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn sign_in_form() -> Html<String> {
    page(
        "Sign in",
        "<form id=\"sign-in\" method=\"post\" action=\"/welcome\">\
           <input id=\"name\" name=\"name\"><button id=\"go\">Sign in</button></form>\
         <ul><li>first</li><li>second</li></ul>\
         <p id=\"count\">0</p>\
         <button id=\"more\" type=\"button\" \
           onclick=\"document.getElementById('count').innerText = '1'\">more</button>",
    )
}

async fn welcome(body: String) -> ([(axum::http::HeaderName, String); 1], Html<String>) {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let name = form
        .into_iter()
        .find(|(key, _)| key == "name")
        .map(|(_, value)| value);
    let name = name.unwrap_or_default();
    let cookie = format!("session={name}; HttpOnly; SameSite=Strict; Path=/");
    let greeting = format!("<h1 id=\"greeting\">Welcome, {}</h1>", escape(&name));
    ([(SET_COOKIE, cookie)], page("Welcome", &greeting))
}

async fn whoami(headers: HeaderMap) -> Html<String> {
    let cookie = headers
        .get(COOKIE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("nobody");
    page("Who am I", &format!("<p id=\"who\">{}</p>", escape(cookie)))
}

async fn broken() -> Html<String> {
    page(
        "Broken",
        "<p id=\"before\">loaded</p>\
         <script>console.error('widget failed to load'); null.boom();</script>",
    )
}

/// Serves the pages on an ephemeral port for the rest of the test; returns the base URL.
async fn serve() -> String {
    let app = Router::new()
        .route("/", get(sign_in_form))
        .route("/welcome", axum::routing::post(welcome))
        .route("/whoami", get(whoami))
        .route("/broken", get(broken));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn the_driver_fills_and_submits_a_form_and_reads_the_next_page() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    let base = serve().await;
    let page = browser.new_page().await;

    page.goto(&format!("{base}/")).await;
    assert_eq!(page.texts("li").await, ["first", "second"]);
    assert!(!page.exists("#greeting").await);
    page.fill("#name", "Ada <Lovelace>").await;
    page.submit("#sign-in").await;

    assert_eq!(page.url().await, format!("{base}/welcome"));
    assert_eq!(page.text("#greeting").await, "Welcome, Ada <Lovelace>");
}

#[tokio::test]
async fn a_click_runs_the_page_s_handler_without_leaving_the_page() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    let base = serve().await;
    let page = browser.new_page().await;
    page.goto(&format!("{base}/")).await;

    page.click("#more").await;

    assert_eq!(page.text("#count").await, "1");
    assert_eq!(page.url().await, format!("{base}/"));
}

#[tokio::test]
async fn a_screenshot_is_a_png_file() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    let base = serve().await;
    let page = browser.new_page().await;
    page.goto(&format!("{base}/")).await;

    let path = page.screenshot("harness-sign-in").await;

    let png = std::fs::read(&path).unwrap();
    assert!(
        png.len() > PNG_SIGNATURE.len(),
        "{} is nearly empty",
        path.display()
    );
    assert_eq!(png[..8], PNG_SIGNATURE, "{} is not a PNG", path.display());
    assert!(
        path.ends_with("console-screenshots/harness-sign-in.png"),
        "{}",
        path.display()
    );
}

#[tokio::test]
async fn a_js_error_on_a_page_is_reported() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    let base = serve().await;
    let clean = browser.new_page().await;
    let broken = browser.new_page().await;

    clean.goto(&format!("{base}/")).await;
    broken.goto(&format!("{base}/broken")).await;

    assert_eq!(clean.console_errors(), Vec::<String>::new());
    let errors = broken.console_errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("widget failed to load"), "{errors:?}");
    assert!(
        errors[1].contains("TypeError") && errors[1].contains("boom"),
        "{errors:?}"
    );
    let thrown = broken.try_eval("undefined.nothing").await.unwrap_err();
    assert!(thrown.contains("TypeError"), "{thrown}");
}

#[tokio::test]
async fn two_pages_do_not_share_cookies() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    let base = serve().await;
    let alice = browser.new_page().await;
    let stranger = browser.new_page().await;

    alice.goto(&format!("{base}/")).await;
    alice.fill("#name", "alice").await;
    alice.submit("#go").await;
    stranger.goto(&format!("{base}/whoami")).await;
    alice.goto(&format!("{base}/whoami")).await;

    assert_eq!(alice.text("#who").await, "session=alice");
    assert_eq!(stranger.text("#who").await, "nobody");
    let cookies = alice.cookies().await;
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(cookies[0]["name"], "session");
    assert_eq!(cookies[0]["httpOnly"], true);
    assert_eq!(cookies[0]["sameSite"], "Strict");
    assert_eq!(stranger.cookies().await, Vec::<serde_json::Value>::new());
}

#[tokio::test]
async fn a_phone_viewport_makes_the_window_390_wide() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    let base = serve().await;
    let page = browser.new_page().await;

    page.set_viewport(390, 844, true).await;
    page.goto(&format!("{base}/")).await;

    assert_eq!(page.eval("window.innerWidth").await, 390);
    page.screenshot("harness-sign-in-phone").await;
}
