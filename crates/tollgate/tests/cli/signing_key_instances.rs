//! A second instance of a deployment (its own data directory, the same database) never makes a
//! signing key of its own by accident: without the key file it refuses to start and says
//! what to do; with the shared file, or told to make a new key, it starts. On both engines.

use tollgate_store::testing::TestDatabase;

use crate::Sandbox;

/// The key id a start-up log names (`signing key ID (PATH)`).
fn logged_key_id(log: &str) -> String {
    log.split("signing key ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .find(|id| id.starts_with("key_"))
        .unwrap_or_else(|| panic!("no signing key line:\n{log}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_without_the_key_file_refuses_to_start_and_says_what_to_do() {
    for db in TestDatabase::all().await {
        let url = db.url.as_str();
        let info = [("RUST_LOG", "info")];
        let first = Sandbox::new();
        let started = first.serve_once(&["--database-url", url], &info);
        assert!(started.listening, "{}: {}", db.engine, started.log);
        let key_id = logged_key_id(&started.log);
        let shared = first.data().join("signing-key.pem");
        assert!(
            shared.exists(),
            "{}: the first start made the key",
            db.engine
        );

        let second = Sandbox::new();
        let own = second.data().join("signing-key.pem");
        let refused = second.serve_once(&["--database-url", url], &info);
        assert!(
            !refused.listening && refused.code == Some(1),
            "{}: a second key was made:\n{}",
            db.engine,
            refused.log
        );
        for needed in [
            "the database already has signing key(s)".to_string(),
            key_id.clone(),
            format!("no key file at {}", own.display()),
            "confuse verifiers".into(),
            "receipts.signing_key_file".into(),
            "tollgate serve --new-signing-key".into(),
        ] {
            assert!(
                refused.log.contains(&needed),
                "{}: {needed}:\n{}",
                db.engine,
                refused.log
            );
        }
        assert!(!own.exists(), "{}: no key file is left behind", db.engine);

        let shared_env = [
            ("RUST_LOG", "info"),
            (
                "TOLLGATE_RECEIPTS__SIGNING_KEY_FILE",
                shared.to_str().expect("utf-8"),
            ),
        ];
        let sharing = second.serve_once(&["--database-url", url], &shared_env);
        assert!(sharing.listening, "{}: {}", db.engine, sharing.log);
        assert_eq!(logged_key_id(&sharing.log), key_id, "{}", db.engine);

        let told = second.serve_once(&["--database-url", url, "--new-signing-key"], &info);
        assert!(told.listening, "{}: {}", db.engine, told.log);
        assert_ne!(logged_key_id(&told.log), key_id, "{}", db.engine);
        assert!(own.exists(), "{}", db.engine);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_gets_its_signing_key_without_being_asked() {
    for db in TestDatabase::all().await {
        let sandbox = Sandbox::new();
        let started = sandbox.serve_once(&["--database-url", &db.url], &[]);
        assert!(started.listening, "{}: {}", db.engine, started.log);
        assert!(
            sandbox.data().join("signing-key.pem").exists(),
            "{}",
            db.engine
        );
    }
}
