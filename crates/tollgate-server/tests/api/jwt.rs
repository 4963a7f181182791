//! End users with a JWT: validated by issuer, audience, algorithm, key and expiry, and
//! confined to their own account on the balance, history, usage and authorize routes.

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{json, Value};
use tollgate_core::Nanos;
use tollgate_server::settings::{JwtAlgorithm, JwtSettings};
use tollgate_server::{Server, Settings};
use tollgate_store::testing::TestDatabase;

use crate::support::{assert_error, top_up, Reply, TestApp};

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "tollgate-test";
const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

fn jwt_settings(algorithm: JwtAlgorithm) -> JwtSettings {
    JwtSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        algorithm,
        secret: None,
        public_key_file: None,
        tenant_claim: "tenant".into(),
        leeway_seconds: 30,
    }
}

pub(crate) fn with_hs256(s: &mut Settings) {
    s.auth.jwt = Some(JwtSettings {
        secret: Some(SecretString::from(SECRET)),
        ..jwt_settings(JwtAlgorithm::Hs256)
    });
}

/// Valid claims for `user` of `tenant`, expiring in an hour.
fn claims(user: &str, tenant: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": user, "tenant": tenant,
        "iat": get_current_timestamp(), "exp": get_current_timestamp() + 3600,
    })
}

fn sign(alg: Algorithm, claims: &Value, key: &EncodingKey) -> String {
    encode(&Header::new(alg), claims, key).expect("sign")
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

/// A token for `user` of the app's own tenant (named by id).
pub(crate) fn token_for(app: &TestApp, user: &str) -> String {
    hs256(&claims(user, &app.tenant_id))
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn get_bearer(app: &TestApp, token: &str, path: &str) -> Reply {
    send(
        app.http
            .get(format!("{}{path}", app.base))
            .bearer_auth(token),
    )
    .await
}

async fn post_bearer(app: &TestApp, token: &str, path: &str, body: &Value) -> Reply {
    send(
        app.http
            .post(format!("{}{path}", app.base))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn an_hs256_token_for_alice_reads_alices_balance_history_and_usage() {
    for app in TestApp::all_with(with_hs256).await {
        top_up(&app, "alice", "5").await;
        top_up(&app, "bob", "7").await;
        let token = token_for(&app, "alice");
        let by_key = app.get("/api/v1/billing/balance?user_id=alice").await;
        let r = get_bearer(&app, &token, "/api/v1/billing/balance").await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["user_id"], "alice");
        assert_eq!(r.body["balance_usd"], "5.000000000");
        assert_eq!(r.body, by_key.body, "the same view an API key gets");
        // The prepaid service's path, in its shape, for the token's own account.
        let r = get_bearer(&app, &token, "/api/billing/balance").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["success"], true);
        assert_eq!(r.body["billing"]["user_id"], "alice");
        assert_eq!(r.body["billing"]["balance_usd"], json!(5.0));
        let r = get_bearer(&app, &token, "/api/v1/billing/balance?user_id=alice").await;
        assert_eq!(r.status, 200, "naming oneself is fine: {}", r.body);
        assert_eq!(r.body["balance_usd"], "5.000000000");
        let r = get_bearer(&app, &token, "/api/v1/billing/history").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["user_id"], "alice");
        let entries = r.body["transactions"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "bob's top-up is not alice's");
        assert_eq!(entries[0]["amount"], "5.000000000");
        let r = get_bearer(&app, &token, "/api/billing/history").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let entries = r.body["transactions"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "bob's top-up is not alice's");
        assert_eq!(entries[0]["user_id"], "alice");
        assert_eq!(entries[0]["amount_usd"], json!(5.0));
        for path in ["/api/v1/billing/usage", "/billing/usage?period=day"] {
            let r = get_bearer(&app, &token, path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert_eq!(r.body["user_id"], "alice", "never the whole tenant's usage");
        }
        let r = get_bearer(&app, &token, "/api/v1/billing/statement").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["user_id"], "alice");
        assert_eq!(r.body["currencies"][0]["topups"]["amount"], "5.000000000");
    }
}

#[tokio::test]
async fn asking_for_another_users_account_gives_404() {
    for app in TestApp::all_with(with_hs256).await {
        top_up(&app, "bob", "7").await;
        let token = token_for(&app, "alice");
        for path in [
            "/api/v1/billing/balance?user_id=bob",
            "/api/billing/balance?user_id=nobody",
            "/api/v1/billing/history?user_id=bob",
            "/api/v1/billing/usage?user_id=bob",
            "/api/v1/billing/statement?user_id=bob",
        ] {
            let r = get_bearer(&app, &token, path).await;
            assert_error(&r, 404, "NOT_FOUND");
        }
        let r = post_bearer(
            &app,
            &token,
            "/api/v1/authorize",
            &json!({"user_id": "bob", "estimated_cost": "0.01", "hold": true}),
        )
        .await;
        assert_error(&r, 404, "NOT_FOUND");
        let bob = app
            .db
            .store
            .account(&app.tenant_id, "bob")
            .await
            .expect("account")
            .expect("exists");
        assert_eq!(bob.balances[0].held, Nanos::ZERO, "nothing held for bob");
    }
}

#[tokio::test]
async fn an_authorize_with_hold_works_for_alices_own_account() {
    for app in TestApp::all_with(with_hs256).await {
        top_up(&app, "alice", "1").await;
        // Named by the tenant's name rather than its id.
        let token = hs256(&claims("alice", "default"));
        let r = post_bearer(
            &app,
            &token,
            "/api/v1/authorize",
            &json!({"estimated_cost": "0.25", "hold": true}),
        )
        .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["allowed"], true);
        assert!(r.body["hold_id"].as_str().is_some(), "{}", r.body);
        assert_eq!(r.body["balance"]["user_id"], "alice");
        assert_eq!(r.body["balance"]["held"], "0.250000000");
        let r = post_bearer(
            &app,
            &token,
            "/api/v1/authorize",
            &json!({"user_id": "alice", "estimated_cost": "0.80", "hold": true}),
        )
        .await;
        assert_error(&r, 402, "INSUFFICIENT_BALANCE");
        let a = app
            .db
            .store
            .account(&app.tenant_id, "alice")
            .await
            .expect("account")
            .expect("exists");
        assert_eq!(a.balances[0].held, Nanos::parse_exact("0.25").expect("n"));
    }
}

/// A token whose header says `alg: none` and that carries no signature.
fn unsigned(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT"})),
        part(claims)
    )
}

#[tokio::test]
async fn expired_misissued_misaddressed_missigned_and_foreign_tokens_get_401() {
    for app in TestApp::all_with(with_hs256).await {
        let good = claims("alice", &app.tenant_id);
        let with = |field: &str, value: Value| {
            let mut c = good.clone();
            c[field] = value;
            c
        };
        let without = |field: &str| {
            let mut c = good.clone();
            c.as_object_mut().expect("object").remove(field);
            c
        };
        let hour_ago = get_current_timestamp() - 3600;
        let other_key = EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!");
        let cases = [
            ("expired", hs256(&with("exp", json!(hour_ago)))),
            ("not yet valid", hs256(&with("nbf", json!(hour_ago + 7200)))),
            (
                "wrong issuer",
                hs256(&with("iss", json!("https://evil.test"))),
            ),
            ("wrong audience", hs256(&with("aud", json!("someone-else")))),
            ("no expiry", hs256(&without("exp"))),
            ("no subject", hs256(&without("sub"))),
            ("empty subject", hs256(&with("sub", json!("")))),
            ("no tenant", hs256(&without("tenant"))),
            (
                "unknown tenant",
                hs256(&with("tenant", json!("no-such-tenant"))),
            ),
            (
                "HS384",
                sign(
                    Algorithm::HS384,
                    &good,
                    &EncodingKey::from_secret(SECRET.as_bytes()),
                ),
            ),
            ("alg none", unsigned(&good)),
            ("bad signature", sign(Algorithm::HS256, &good, &other_key)),
            ("garbage", "eyJhbGciOi.eyJzdWIi.c2ln".to_string()),
        ];
        for (what, token) in &cases {
            let r = get_bearer(&app, token, "/api/v1/billing/balance").await;
            assert_eq!(r.status, 401, "{}: {what}: {}", app.engine(), r.body);
            assert_error(&r, 401, "INVALID_TOKEN");
        }
        let r = get_bearer(&app, &unsigned(&good), "/api/v1/billing/balance").await;
        let message = r.body["error"]["message"].as_str().expect("message");
        assert!(message.contains("'none'"), "{message}");
        // The good token, for contrast.
        let r = get_bearer(&app, &hs256(&good), "/api/v1/billing/balance").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn a_jwt_user_gets_403_everywhere_but_their_own_account() {
    for app in TestApp::all_with(with_hs256).await {
        let token = token_for(&app, "alice");
        let log = json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1,
                         "output_tokens": 1, "user_id": "alice"});
        let credit = json!({"amount": "100", "user_id": "alice"});
        let posts = [
            ("/api/v1/log", log.clone()),
            ("/api/v1/log/batch", json!({"events": [log]})),
            ("/api/v1/billing/topup", credit),
            (
                "/api/billing/topup",
                json!({"amount_usd": 100, "user_id": "alice"}),
            ),
            ("/api/v1/billing/plan", json!({"plan": "pro"})),
            (
                "/api/v1/receipts/generate",
                json!({"since_last_receipt": true}),
            ),
            ("/api/v1/authorize/hold_x/release", json!({})),
        ];
        for (path, body) in &posts {
            let r = post_bearer(&app, &token, path, body).await;
            assert_error(&r, 403, "FORBIDDEN");
        }
        for path in [
            "/api/v1/receipts",
            "/api/v1/logs",
            "/api/v1/stats",
            "/api/v1/billing/limits",
            "/api/v1/billing/cost-report",
            "/api/v1/conversations/",
        ] {
            let r = get_bearer(&app, &token, path).await;
            assert_error(&r, 403, "FORBIDDEN");
        }
        let r = send(
            app.http
                .put(format!("{}/api/v1/billing/settings", app.base))
                .bearer_auth(&token)
                .json(&json!({"daily_limit": "1000"})),
        )
        .await;
        assert_error(&r, 403, "FORBIDDEN");
        let r = send(
            app.http
                .get(format!("{}/api/v1/billing/balance", app.base))
                .bearer_auth(&token)
                .header("X-Tenant-Id", "some-other-tenant"),
        )
        .await;
        assert_error(&r, 403, "FORBIDDEN");
    }
}

#[tokio::test]
async fn without_credentials_a_request_gets_401_and_api_keys_still_work_as_bearers() {
    for app in TestApp::all_with(with_hs256).await {
        let r = send(app.http.get(format!("{}/api/v1/billing/balance", app.base))).await;
        assert_error(&r, 401, "UNAUTHORIZED");
        let r = send(
            app.http
                .post(format!("{}/api/v1/authorize", app.base))
                .json(&json!({})),
        )
        .await;
        assert_error(&r, 401, "UNAUTHORIZED");
        let r = get_bearer(&app, &app.key, "/api/v1/billing/balance?user_id=bob").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["user_id"], "bob", "a read key chooses the account");
    }
}

#[tokio::test]
async fn tokens_are_refused_as_api_keys_when_jwt_is_not_configured() {
    for app in TestApp::all().await {
        let token = token_for(&app, "alice");
        let r = get_bearer(&app, &token, "/api/v1/billing/balance").await;
        assert_error(&r, 401, "INVALID_TOKEN");
        let message = r.body["error"]["message"].as_str().expect("message");
        assert!(message.contains("not enabled"), "{message}");
    }
}

/// The DER inside a PEM document.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

#[tokio::test]
async fn an_eddsa_token_signed_with_the_configured_keys_pair_validates() {
    let dir = tempfile::tempdir().expect("dir");
    let signing = tollgate_receipts::keys::SigningKey::generate();
    let public: PathBuf = dir.path().join("idp-public.pem");
    std::fs::write(&public, signing.public_key().to_spki_pem()).expect("write");
    let key = EncodingKey::from_ed_der(&pem_body(&signing.to_pkcs8_pem()));
    let apps = TestApp::all_with(|s| {
        s.auth.jwt = Some(JwtSettings {
            public_key_file: Some(public.clone()),
            ..jwt_settings(JwtAlgorithm::EdDsa)
        })
    })
    .await;
    for app in apps {
        top_up(&app, "carol", "3").await;
        let token = sign(Algorithm::EdDSA, &claims("carol", &app.tenant_id), &key);
        let r = get_bearer(&app, &token, "/api/v1/billing/balance").await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["user_id"], "carol");
        assert_eq!(r.body["balance_usd"], "3.000000000");
        // An HS256 token made with the public key's bytes as the secret (key confusion).
        let confused = sign(
            Algorithm::HS256,
            &claims("carol", &app.tenant_id),
            &EncodingKey::from_secret(signing.public_key().to_spki_pem().as_bytes()),
        );
        let r = get_bearer(&app, &confused, "/api/v1/billing/balance").await;
        assert_error(&r, 401, "INVALID_TOKEN");
    }
}

#[tokio::test]
async fn an_rs256_token_validates_against_the_configured_public_key() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};

    // Made here rather than kept in the repository: a second or two in a debug build.
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("rsa key");
    let key = EncodingKey::from_rsa_der(private.to_pkcs1_der().expect("der").as_bytes());
    let pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let dir = tempfile::tempdir().expect("dir");
    let public: PathBuf = dir.path().join("idp-rsa.pem");
    std::fs::write(&public, pem).expect("write");
    let apps = TestApp::all_with(|s| {
        s.auth.jwt = Some(JwtSettings {
            public_key_file: Some(public.clone()),
            ..jwt_settings(JwtAlgorithm::Rs256)
        })
    })
    .await;
    for app in apps {
        let token = sign(Algorithm::RS256, &claims("dave", &app.tenant_id), &key);
        let r = get_bearer(&app, &token, "/api/v1/billing/balance").await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["user_id"], "dave");
        let pss = sign(Algorithm::PS256, &claims("dave", &app.tenant_id), &key);
        let r = get_bearer(&app, &pss, "/api/v1/billing/balance").await;
        assert_error(&r, 401, "INVALID_TOKEN");
    }
}

#[tokio::test]
async fn a_server_with_an_unusable_jwt_setting_does_not_start() {
    let db = TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        (
            JwtSettings {
                secret: Some(SecretString::from("too-short")),
                ..jwt_settings(JwtAlgorithm::Hs256)
            },
            "at least 32 bytes",
        ),
        (
            jwt_settings(JwtAlgorithm::Rs256),
            "needs auth.jwt.public_key_file",
        ),
        (
            JwtSettings {
                public_key_file: Some(dir.path().join("missing.pem")),
                ..jwt_settings(JwtAlgorithm::EdDsa)
            },
            "cannot read auth.jwt.public_key_file",
        ),
    ];
    for (jwt, expected) in cases {
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            auth: tollgate_server::settings::AuthSettings { jwt: Some(jwt) },
            ..Settings::default()
        };
        match Server::new(settings, db.store.clone()).await {
            Ok(_) => panic!("started with a bad auth.jwt ({expected})"),
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("configuration:") && text.contains(expected),
                    "{text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_end_users_token_meters_a_tool_execution_to_their_own_account_only() {
    for app in TestApp::all_with(with_hs256).await {
        let tool_id = crate::tool_calls::tool(&app, Some("0.02"), None).await;
        top_up(&app, "alice", "1").await;
        let token = token_for(&app, "alice");
        let path = format!("/api/v1/mcp/tools/{tool_id}/execute");
        let r = post_bearer(&app, &token, &path, &json!({"input": {"q": 1}})).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["user_id"], "alice", "{}", r.body);
        assert_eq!(r.body["metered"]["cost"], "0.020000000");
        let balance = get_bearer(&app, &token, "/api/v1/billing/balance").await;
        assert_eq!(
            balance.body["balance_usd"], "0.980000000",
            "{}",
            balance.body
        );
        let theirs =
            post_bearer(&app, &token, &path, &json!({"input": {}, "user_id": "bob"})).await;
        assert_error(&theirs, 404, "NOT_FOUND");
    }
}
