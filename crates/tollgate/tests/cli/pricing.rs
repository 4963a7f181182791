//! `tollgate pricing reprice`: through a running server, calls recorded without a price are
//! priced once `tollgate pricing import` has added one, for scripts (`--json`) and for people.

use std::time::{Duration, Instant};

use super::{arg, Sandbox};

#[test]
fn pricing_reprice_prices_what_an_import_made_priceable_and_says_what_is_left() {
    let sb = Sandbox::new();
    let server = sb.start_with_env(&[("TOLLGATE_PRICING__REFRESH_SECONDS", "1")]);
    for model in ["brand-new", "mystery"] {
        sb.client(
            &server,
            &[
                "usage",
                "log",
                "--provider",
                "acme",
                "--model",
                model,
                "--input-tokens",
                "1000",
                "--output-tokens",
                "10",
                "--json",
            ],
        )
        .expect(0);
    }
    let table = sb.client(&server, &["pricing", "reprice"]).expect(0).stdout;
    assert!(table.starts_with("repriced 0 calls of tenant "), "{table}");
    assert!(
        table.contains("still without a price") && table.contains("mystery"),
        "{table}"
    );

    let file = sb.path("prices.toml");
    std::fs::write(
        &file,
        "[[prices]]\nprovider = \"acme\"\nmodel = \"brand-new\"\n\
         effective_from = \"2020-01-01\"\ninput = \"1\"\noutput = \"2\"\n",
    )
    .expect("write");
    sb.run(&[
        "pricing",
        "import",
        arg(&file),
        "--data-dir",
        arg(&sb.data()),
    ])
    .expect(0);
    // The server reloads imported prices on its timer (1 s here).
    let deadline = Instant::now() + Duration::from_secs(20);
    let dry = loop {
        let dry = sb
            .client(&server, &["pricing", "reprice", "--dry-run", "--json"])
            .expect(0)
            .json();
        if dry["repriced"] == 1 || Instant::now() > deadline {
            break dry;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(dry["repriced"], 1, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["adjustments"][0]["log_id"], serde_json::Value::Null);

    let done = sb
        .client(
            &server,
            &["pricing", "reprice", "--since", "2020-01-01", "--json"],
        )
        .expect(0)
        .json();
    assert_eq!(done["repriced"], 1, "{done}");
    // 1000 × $1 + 10 × $2 per million.
    assert_eq!(done["cost"], "0.001020000");
    assert_eq!(done["still_unpriced"][0]["model"], "mystery");
    let again = sb.client(&server, &["pricing", "reprice"]).expect(0).stdout;
    assert!(again.starts_with("repriced 0 calls"), "{again}");

    let bad = sb
        .client(&server, &["pricing", "reprice", "--until", "soon"])
        .expect(1);
    assert!(bad.stderr.contains("until"), "{}", bad.stderr);
    let elsewhere = sb
        .client(
            &server,
            &["pricing", "reprice", "--tenant", "no-such-tenant"],
        )
        .expect(1);
    assert!(elsewhere.stderr.contains("404"), "{}", elsewhere.stderr);
}
