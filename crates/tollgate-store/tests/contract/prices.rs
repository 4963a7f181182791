use tollgate_core::pricing::{parse_price_file, PriceSource};
use tollgate_store::testing::TestDatabase;
use tollgate_store::StoreError;

const PRICES: &str = r#"
[[prices]]
provider = "openai"
model = "gpt-4o"
effective_from = "2026-01-01"
input = "2.50"
output = "10"
cached_input = "1.25"
"#;

#[tokio::test]
async fn importing_the_same_prices_twice_adds_them_once() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let entries = parse_price_file(PRICES, PriceSource::Database, None).expect("file");
        assert_eq!(s.import_prices(&entries).await.expect("import"), 1);
        assert_eq!(
            s.import_prices(&entries).await.expect("again"),
            0,
            "{}",
            db.engine
        );
        let loaded = s.load_prices().await.expect("load");
        assert_eq!(loaded, entries, "{}: rates read back exactly", db.engine);
    }
}

#[tokio::test]
async fn tiers_and_per_call_prices_read_back_exactly() {
    let file = r#"
[[prices]]
provider = "anthropic"
model = "claude-sonnet-4-5"
effective_from = "2026-01-01"
input = "3"
output = "15"
tier_rule = "whole_request"

[[prices.tiers]]
above_input_tokens = 200000
input = "6"
output = "22.50"
cached_input = "0.60"

[[prices]]
provider = "mcp"
model = "courts/lookup"
effective_from = "2026-01-01"
per_call = "0.02"
"#;
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let entries = parse_price_file(file, PriceSource::Database, None).expect("file");
        assert_eq!(entries[0].rates.tiers.len(), 1);
        assert_eq!(s.import_prices(&entries).await.expect("import"), 2);
        let mut loaded = s.load_prices().await.expect("load");
        loaded.sort_by(|a, b| a.provider.cmp(&b.provider));
        assert_eq!(loaded, entries, "{}: tiers read back exactly", db.engine);
    }
}

#[tokio::test]
async fn a_changed_price_for_the_same_instant_is_refused() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let entries = parse_price_file(PRICES, PriceSource::Database, None).expect("file");
        s.import_prices(&entries).await.expect("import");
        let changed = parse_price_file(
            &PRICES.replace("\"2.50\"", "\"3.00\""),
            PriceSource::Database,
            None,
        )
        .expect("file");
        assert!(
            matches!(
                s.import_prices(&changed).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            db.engine
        );
        let tenant_prices = parse_price_file(
            &PRICES.replace("\"2.50\"", "\"3.00\""),
            PriceSource::Tenant,
            Some("tnt_x"),
        )
        .expect("file");
        assert_eq!(
            s.import_prices(&tenant_prices)
                .await
                .expect("tenant import"),
            1
        );
        let loaded = s.load_prices().await.expect("load");
        assert_eq!(loaded.len(), 2);
        assert!(loaded
            .iter()
            .any(|e| e.source == PriceSource::Tenant && e.tenant_id.as_deref() == Some("tnt_x")));
    }
}
