//! The commands that act on the database directly: `keys`, `tenants`, `plans`.

use super::{arg, Sandbox};

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
