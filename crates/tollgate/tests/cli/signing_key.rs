//! `tollgate signing-key rotate | show`.

use super::{arg, Sandbox};

#[test]
fn after_rotating_the_signing_key_old_receipts_still_verify_and_both_keys_are_listed() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 2);
    let old = sb.generate(&server, "old.json");
    let old_id = old["key_id"].as_str().expect("key id").to_string();
    drop(server);

    let data = sb.data();
    let out = sb
        .run(&["signing-key", "rotate", "--data-dir", arg(&data), "--json"])
        .expect(0);
    let rotated = out.json();
    assert_eq!(rotated["old_key_id"], old_id.as_str());
    let new_id = rotated["new_key_id"].as_str().expect("new id").to_string();
    assert_ne!(new_id, old_id);
    let kept = data.join(format!("signing-key.{old_id}.pem"));
    assert!(kept.exists(), "the old key is kept beside the new one");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).expect("kept").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let server = sb.start();
    sb.run(&[
        "receipts",
        "verify",
        arg(&sb.path("old.json")),
        "--server",
        &server.url,
    ])
    .expect(0);
    sb.log_usage(&server, 1);
    let new = sb.generate(&server, "new.json");
    assert_eq!(new["key_id"], new_id.as_str());

    let shown = sb
        .run(&["signing-key", "show", "--data-dir", arg(&data), "--json"])
        .expect(0)
        .json();
    assert_eq!(shown["key_id"], new_id.as_str());
    let keys = shown["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys
        .iter()
        .any(|k| k["key_id"] == old_id.as_str() && !k["not_after"].is_null()));
    assert!(keys
        .iter()
        .any(|k| k["key_id"] == new_id.as_str() && k["current"] == true));
}
