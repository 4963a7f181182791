//! `tollgate plans`: the default plan is the database's, whatever the caller's settings say,
//! and the settings change a plan at a server's start only until an operator sets it.

use serde_json::{json, Value};

use super::{api_get, arg, Sandbox};

/// The row of `plans list --json` for `name`.
fn listed(sb: &Sandbox, name: &str) -> Value {
    let data = sb.data();
    let all = sb
        .run(&["plans", "list", "--json", "--data-dir", arg(&data)])
        .expect(0)
        .json();
    all.as_array()
        .expect("rows")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {all}"))
        .clone()
}

#[test]
fn plans_delete_refuses_the_databases_default_plan_whatever_the_callers_settings_say() {
    let sb = Sandbox::new();
    let server = sb.start();
    let data = sb.data();
    // The caller's settings are not the server's: they name another default plan.
    std::fs::write(
        sb.path("tollgate.toml"),
        "[billing]\ndefault_plan = \"growth\"\n",
    )
    .expect("settings");
    let refused = sb
        .run(&["plans", "delete", "starter", "--data-dir", arg(&data)])
        .expect(1);
    for needed in [
        "'starter' is the default plan",
        "tollgate plans default NAME",
    ] {
        assert!(refused.stderr.contains(needed), "{}", refused.stderr);
    }
    let (status, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(status, 200, "{limits}");
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("starter"), &json!(500))
    );
    sb.run(&["plans", "delete", "growth", "--data-dir", arg(&data)])
        .expect(0);
}

#[test]
fn plans_default_chooses_the_plan_every_running_server_gives_tenants_with_none_set() {
    let sb = Sandbox::new();
    let server = sb.start();
    let data = sb.data();
    let out = sb
        .run(&["plans", "default", "growth", "--data-dir", arg(&data)])
        .expect(0);
    assert!(
        out.stdout
            .contains("growth is now the default plan (5000 requests a month)"),
        "{}",
        out.stdout
    );
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("growth"), &json!(5000))
    );
    assert_eq!(listed(&sb, "growth")["default"], true);
    assert_eq!(listed(&sb, "starter")["default"], false);
    let table = sb
        .run(&["plans", "list", "--data-dir", arg(&data)])
        .expect(0)
        .stdout;
    let growth = table
        .lines()
        .find(|l| l.contains("growth"))
        .expect("growth row");
    assert!(growth.contains("yes"), "{table}");

    let refused = sb
        .run(&["plans", "default", "platinum", "--data-dir", arg(&data)])
        .expect(1);
    assert!(
        refused.stderr.contains("no plan named 'platinum'"),
        "{}",
        refused.stderr
    );
    sb.run(&[
        "plans",
        "set",
        "tiny",
        "--monthly-requests",
        "3",
        "--default",
        "--data-dir",
        arg(&data),
    ])
    .expect(0);
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("tiny"), &json!(3))
    );
}

#[test]
fn a_built_in_plan_the_settings_define_gets_the_settings_quota_at_the_first_start() {
    let sb = Sandbox::new();
    let data = sb.data();
    sb.run(&["migrate", "--data-dir", arg(&data)]).expect(0);
    std::fs::write(
        sb.path("tollgate.toml"),
        "[billing]\ndefault_plan = \"growth\"\n\n[billing.plans.starter]\nmonthly_requests = 1000\n",
    )
    .expect("settings");
    sb.serve_log();
    let starter = listed(&sb, "starter");
    assert_eq!(
        (&starter["monthly_requests"], &starter["source"]),
        (&json!(1000), &json!("settings"))
    );
    assert_eq!(listed(&sb, "growth")["default"], true);
}

#[test]
fn an_operator_set_plan_is_kept_at_start_with_a_warning_when_the_settings_differ() {
    let sb = Sandbox::new();
    let data = sb.data();
    sb.run(&["migrate", "--data-dir", arg(&data)]).expect(0);
    for args in [
        &["plans", "set", "starter", "--monthly-requests", "700"][..],
        &["plans", "default", "pro"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--data-dir", arg(&data)]);
        sb.run(&all).expect(0);
    }
    std::fs::write(
        sb.path("tollgate.toml"),
        "[billing]\ndefault_plan = \"growth\"\n\n[billing.plans.starter]\nmonthly_requests = 1000\n",
    )
    .expect("settings");
    let log = sb.serve_log();
    for needed in [
        "billing.plans.starter in the settings says 1000 requests a month",
        "an operator set it to 700 requests a month",
        "tollgate plans set starter --monthly-requests N",
        "billing.default_plan in the settings says 'growth'",
        "an operator chose 'pro'",
        "tollgate plans default NAME",
    ] {
        assert!(log.contains(needed), "{needed}:\n{log}");
    }
    let starter = listed(&sb, "starter");
    assert_eq!(
        (&starter["monthly_requests"], &starter["source"]),
        (&json!(700), &json!("operator"))
    );
    assert_eq!(listed(&sb, "pro")["default"], true);
}

#[test]
fn plans_rate_limits_sets_all_six_limits_and_lists_them() {
    let sb = Sandbox::new();
    let data = sb.data();
    sb.run(&["migrate", "--data-dir", arg(&data)]).expect(0);
    let out = sb
        .run(&[
            "plans",
            "rate-limits",
            "growth",
            "--user-rpm",
            "20",
            "--user-tpm",
            "100000",
            "--ip-rpm",
            "120",
            "--data-dir",
            arg(&data),
        ])
        .expect(0);
    assert!(
        out.stdout
            .contains("user 20/min, 100000 tokens/min · ip 120/min"),
        "{}",
        out.stdout
    );
    let growth = listed(&sb, "growth");
    assert_eq!(growth["rate_limits"]["user"]["requests_per_minute"], 20);
    assert_eq!(growth["rate_limits"]["user"]["tokens_per_minute"], 100000);
    assert_eq!(
        growth["rate_limits"]["key"]["requests_per_minute"],
        Value::Null
    );
    assert_eq!(growth["source"], "operator");

    let refused = sb
        .run(&[
            "plans",
            "rate-limits",
            "growth",
            "--key-rpm=-1",
            "--data-dir",
            arg(&data),
        ])
        .expect(1);
    assert!(refused.stderr.contains("--key-rpm"), "{}", refused.stderr);
    let refused = sb
        .run(&[
            "plans",
            "rate-limits",
            "nope",
            "--key-rpm",
            "5",
            "--data-dir",
            arg(&data),
        ])
        .expect(1);
    assert!(
        refused.stderr.contains("no plan named 'nope'"),
        "{}",
        refused.stderr
    );
}
