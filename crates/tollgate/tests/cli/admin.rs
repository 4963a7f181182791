//! The commands that act on the database directly: `keys`, `tenants`, `plans` (the default
//! plan and the settings' plans: `plans.rs`).

use serde_json::{json, Value};

use super::{api_get, arg, get_with_headers, Sandbox};

#[test]
fn an_admin_command_where_there_is_no_database_refuses_and_creates_nothing() {
    let sb = Sandbox::new();
    for args in [
        &["keys", "list"][..],
        &["tenants", "create", "acme"],
        &["tenants", "list", "--data-dir", arg(&sb.data())],
    ] {
        let out = sb.run(args).expect(1);
        let looked_at = if args.contains(&"--data-dir") {
            sb.data().join("tollgate.db")
        } else {
            std::path::PathBuf::from("./tollgate-data/tollgate.db")
        };
        for needed in [
            format!("no Tollgate database at {}", looked_at.display()),
            "--data-dir".to_string(),
            "--database-url".to_string(),
            "TOLLGATE_DATA_DIR".to_string(),
            "TOLLGATE_DATABASE_URL".to_string(),
            "`tollgate serve` or `tollgate migrate` creates".to_string(),
        ] {
            assert!(out.stderr.contains(&needed), "{args:?}: {}", out.stderr);
        }
    }
    let left: Vec<_> = std::fs::read_dir(sb.path("."))
        .expect("sandbox")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "nothing was created: {left:?}");
}

#[test]
fn migrate_creates_the_database_that_admin_commands_then_open() {
    let sb = Sandbox::new();
    let data = sb.data();
    sb.run(&["migrate", "--data-dir", arg(&data)]).expect(0);
    assert!(data.join("tollgate.db").exists());
    sb.run(&["tenants", "create", "acme", "--data-dir", arg(&data)])
        .expect(0);
    let listed = sb
        .run(&["tenants", "list", "--json", "--data-dir", arg(&data)])
        .expect(0)
        .json();
    assert_eq!(listed[0]["name"], "acme");
}

#[test]
fn migrate_to_a_version_rolls_back_refusing_to_lose_a_plan_unless_forced_and_migrate_reapplies() {
    let sb = Sandbox::new();
    let data = sb.data();
    let db = ["--data-dir", arg(&data)];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&db);
        sb.run(&all)
    };
    run(&["migrate"]).expect(0);
    // The operator's own plan: rolling back the migration that made plans data loses it.
    run(&["plans", "set", "tiny", "--monthly-requests", "16"]).expect(0);

    let out = run(&["migrate", "--to", "20261123000002"]).expect(1);
    for needed in ["20261205000001_plans", "plans has 1 row", "--force"] {
        assert!(out.stderr.contains(needed), "{needed}: {}", out.stderr);
    }
    run(&["keys", "list"]).expect(0);

    let out = run(&["migrate", "--to", "20261123000002", "--force"]).expect(0);
    for needed in [
        "rolled back 20261208000002_adjustments",
        "rolled back 20261205000001_plans",
        "18 rolled back now",
    ] {
        assert!(out.stdout.contains(needed), "{needed}: {}", out.stdout);
    }
    assert!(
        !out.stdout.contains("20261123000002_retention"),
        "{}",
        out.stdout
    );
    let out = run(&["keys", "list"]).expect(1);
    assert!(out.stderr.contains("tollgate migrate"), "{}", out.stderr);

    let out = run(&["migrate"]).expect(0);
    for needed in [
        "applied 20261205000001_plans",
        "18 applied now, 5 already applied",
    ] {
        assert!(out.stdout.contains(needed), "{needed}: {}", out.stdout);
    }
    run(&["keys", "list"]).expect(0);
}

#[test]
fn an_admin_command_on_a_database_an_older_version_left_refuses_to_migrate_it() {
    let sb = Sandbox::new();
    let data = sb.data();
    std::fs::create_dir_all(&data).expect("data dir");
    let url = format!("sqlite://{}", data.join("tollgate.db").display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut opts = tollgate_store::ConnectOptions::new(&url);
        opts.create_if_missing = true;
        let db = tollgate_store::Db::connect(&opts).await.expect("connect");
        // The schema before plans became data.
        tollgate_store::migrate::run_up_to(&db, 20261123000002)
            .await
            .expect("older schema");
        db.close().await;
    });
    let out = sb
        .run(&["keys", "list", "--data-dir", arg(&data)])
        .expect(1);
    for needed in ["20261205000001_plans", "tollgate migrate"] {
        assert!(out.stderr.contains(needed), "{}", out.stderr);
    }
    let pending = runtime.block_on(async {
        let store = tollgate_store::SqlStore::connect(&tollgate_store::ConnectOptions::new(&url))
            .await
            .expect("connect");
        store.pending_migrations().await.expect("pending")
    });
    assert!(!pending.is_empty(), "the command changed the schema");
    sb.run(&["migrate", "--data-dir", arg(&data)]).expect(0);
    sb.run(&["keys", "list", "--data-dir", arg(&data)])
        .expect(0);
}

#[test]
fn a_plan_set_through_the_cli_applies_to_the_running_server_at_once() {
    let sb = Sandbox::new();
    let server = sb.start();
    let data = sb.data();
    let db = ["--data-dir", arg(&data)];
    let plans = |args: &[&str]| {
        let mut all = vec!["plans"];
        all.extend_from_slice(args);
        all.extend_from_slice(&db);
        sb.run(&all)
    };
    let out = plans(&["set", "tiny", "--monthly-requests", "16"]).expect(0);
    assert!(
        out.stdout.contains("added plan tiny: 16 requests a month"),
        "{}",
        out.stdout
    );
    let out = sb
        .run(&[
            "tenants",
            "set-plan",
            "default",
            "tiny",
            "--data-dir",
            arg(&data),
        ])
        .expect(0);
    assert!(
        out.stdout
            .contains("now on plan tiny (16 requests a month)"),
        "{}",
        out.stdout
    );
    let (status, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(status, 200, "{limits}");
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("tiny"), &json!(16))
    );

    plans(&["set", "tiny", "--monthly-requests", "3"]).expect(0);
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(
        limits["limit"], 3,
        "the server reads the change at its next request"
    );
    plans(&["set", "tiny", "--unlimited"]).expect(0);
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(limits["limit"], Value::Null);

    let listed = plans(&["list", "--json"]).expect(0).json();
    let tiny = listed
        .as_array()
        .expect("rows")
        .iter()
        .find(|p| p["name"] == "tiny")
        .expect("tiny is listed")
        .clone();
    assert_eq!(
        (&tiny["monthly_requests"], &tiny["tenants"]),
        (&Value::Null, &json!(1))
    );
    let table = plans(&["list"]).expect(0).stdout;
    assert!(
        table.contains("tiny") && table.contains("unlimited"),
        "{table}"
    );

    let refused = plans(&["delete", "tiny"]).expect(1);
    assert!(
        refused.stderr.contains("1 tenant is on it"),
        "{}",
        refused.stderr
    );
    let refused = plans(&["delete", "starter"]).expect(1);
    assert!(
        refused.stderr.contains("default plan"),
        "{}",
        refused.stderr
    );
    sb.run(&[
        "tenants",
        "set-plan",
        "default",
        "default",
        "--data-dir",
        arg(&data),
    ])
    .expect(0);
    plans(&["delete", "tiny"]).expect(0);
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("starter"), &json!(500))
    );
}

#[test]
fn a_plan_only_in_the_settings_file_is_refused_until_a_server_start_adds_it() {
    let sb = Sandbox::new();
    let server = sb.start();
    let data = sb.data();
    // The operator defines a plan after the server started: the server has not added it, so
    // the command must not claim the tenant is on it.
    std::fs::write(
        sb.path("tollgate.toml"),
        "[billing.plans.tiny]\nmonthly_requests = 16\n",
    )
    .expect("settings");
    let set_plan = [
        "tenants",
        "set-plan",
        "default",
        "tiny",
        "--data-dir",
        arg(&data),
    ];
    let refused = sb.run(&set_plan).expect(1);
    assert!(
        refused.stderr.contains("'tiny' is not a plan")
            && refused
                .stderr
                .contains("the server adds it at its next start"),
        "{}",
        refused.stderr
    );
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("starter"), &json!(500))
    );

    drop(server);
    let server = sb.start();
    let out = sb.run(&set_plan).expect(0);
    assert!(
        out.stdout
            .contains("now on plan tiny (16 requests a month)"),
        "{}",
        out.stdout
    );
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("tiny"), &json!(16))
    );
}

#[test]
fn keys_are_tenant_or_operator_keys_and_only_the_command_for_it_makes_an_operator_key() {
    let sb = Sandbox::new();
    let server = sb.start_with_env(&[("TOLLGATE_AUTH_CACHE_TTL_MS", "0")]);
    let data = sb.data();
    let db = ["--data-dir", arg(&data)];
    let keys = |args: &[&str]| {
        let mut all = vec!["keys"];
        all.extend_from_slice(args);
        all.extend_from_slice(&db);
        sb.run(&all)
    };
    sb.run(&["tenants", "create", "acme", "--data-dir", arg(&data)])
        .expect(0);
    let refused = keys(&["create", "--tenant", "acme", "--scopes", "ingest,operator"]).expect(1);
    assert!(
        refused.stderr.contains("operator is not a scope") && refused.stderr.contains("--operator"),
        "{}",
        refused.stderr
    );
    let billing = keys(&[
        "create", "--tenant", "acme", "--scopes", "billing", "--json",
    ])
    .expect(0)
    .json();
    assert_eq!(
        (&billing["role"], &billing["scopes"]),
        (&json!("tenant"), &json!(["billing"]))
    );
    let operator = keys(&["create", "--tenant", "acme", "--operator", "--json"])
        .expect(0)
        .json();
    assert_eq!(operator["role"], "operator");

    let as_key = |key: &Value, tenant: &str, path: &str| {
        let headers = format!(
            "X-API-Key: {}\r\nX-Tenant-Id: {tenant}\r\n",
            key["key"].as_str().expect("secret")
        );
        get_with_headers(&server.url, path, &headers).0
    };
    assert_eq!(as_key(&operator, "default", "/api/v1/stats"), 200);
    assert_eq!(as_key(&operator, "acme", "/api/v1/plans"), 200);
    assert_eq!(as_key(&billing, "default", "/api/v1/stats"), 403);
    assert_eq!(as_key(&billing, "acme", "/api/v1/plans"), 403);

    let listed = keys(&["list", "--json", "--tenant", "acme"])
        .expect(0)
        .json();
    let roles: Vec<&Value> = listed
        .as_array()
        .expect("rows")
        .iter()
        .map(|k| &k["role"])
        .collect();
    assert_eq!(roles, [&json!("tenant"), &json!("operator")]);
    let table = keys(&["list"]).expect(0).stdout;
    assert!(
        table.contains("role") && table.contains("operator"),
        "{table}"
    );

    let id = billing["id"].as_str().expect("id");
    let granted = keys(&["grant-operator", id]).expect(0);
    assert!(
        granted.stdout.contains("is now an operator key"),
        "{}",
        granted.stdout
    );
    assert_eq!(as_key(&billing, "default", "/api/v1/stats"), 200);
}
