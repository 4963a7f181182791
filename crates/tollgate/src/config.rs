//! Settings in layers: defaults, then `tollgate.toml` (or `--config`), then `TOLLGATE_*`
//! environment variables (`__` for nesting: `TOLLGATE_PRICING__FILE`), then flags.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use tollgate_server::Settings;

/// Where the settings and the database come from; shared by every command that opens the
/// database.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// A TOML settings file (default: ./tollgate.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB` (default: SQLite in the data directory).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Directory for the SQLite database and local state (default: ./tollgate-data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Top-level settings keys; `TOLLGATE_*` variables naming anything else are warned about.
const KNOWN: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_max_connections",
    "sqlite_synchronous",
    "bootstrap_api_key",
    "max_body_bytes",
    "message_logging_level",
    "auth_cache_ttl_ms",
    "log_format",
    "ingest",
    "pricing",
    "receipts",
    "billing",
    "auth",
    "retention",
    "webhooks",
    "http",
    "mcp",
    "notifications",
    "alerts",
    "payments",
    "dimensions",
    "console",
];

/// Variables read by the client commands and the tests, not by the server settings.
const CLIENT_VARS: &[&str] = &["url", "api_key", "test_database_url"];

/// Loads the settings, with `extra` flag values (dotted keys) applied last.
pub fn load(args: &DbArgs, extra: &[(&str, figment::value::Value)]) -> anyhow::Result<Settings> {
    let mut figment = Figment::new();
    match &args.config {
        Some(path) => {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        None => figment = figment.merge(Toml::file("tollgate.toml")),
    }
    warn_unknown_env();
    // The filter sees the variable's name as written (upper case), before figment folds it.
    figment = figment.merge(Env::prefixed("TOLLGATE_").split("__").filter(|k| {
        let key = k.as_str().to_ascii_lowercase();
        KNOWN.contains(&key.split('.').next().unwrap_or_default())
    }));
    if let Some(url) = &args.database_url {
        figment = figment.merge(("database_url", url.as_str()));
    }
    if let Some(dir) = &args.data_dir {
        figment = figment.merge(("data_dir", dir.display().to_string()));
    }
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    figment.extract::<Settings>().context("invalid settings")
}

fn warn_unknown_env() {
    for (name, _) in std::env::vars() {
        let Some(rest) = name.strip_prefix("TOLLGATE_") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        let top = lower.split("__").next().unwrap_or_default();
        if !KNOWN.contains(&top) && !CLIENT_VARS.contains(&lower.as_str()) {
            eprintln!("warning: ignoring unknown setting {name}");
        }
    }
}

/// Creates the data directory when the database is the default SQLite file in it.
pub fn prepare_data_dir(settings: &Settings) -> anyhow::Result<()> {
    if settings.database_url.is_none() {
        ensure_dir(&settings.data_dir)?;
    }
    Ok(())
}

fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

/// Opens the configured database, which must exist and be up to date: every command but
/// `serve` and `migrate` acts on a server's data, and a SQLite path with no database there is
/// a mistake to report, never a new empty database to answer from; nor does such a command
/// change the schema under running servers.
pub async fn open_store(
    settings: &Settings,
) -> anyhow::Result<std::sync::Arc<dyn tollgate_store::Store>> {
    let url = settings.database_url();
    if let Some(path) = tollgate_store::sqlite_path(&url) {
        if !path.exists() {
            bail!("{}", missing_database(&path));
        }
    }
    tollgate_store::open_current(&connect_options(settings))
        .await
        .with_context(|| format!("cannot use database {}", tollgate_store::redact(&url)))
}

/// Opens (and migrates) the configured database, creating it (and the data directory) when it
/// does not exist: for `serve`.
pub async fn create_store(
    settings: &Settings,
) -> anyhow::Result<std::sync::Arc<dyn tollgate_store::Store>> {
    prepare_data_dir(settings)?;
    let mut opts = connect_options(settings);
    opts.create_if_missing = true;
    open(opts, &settings.database_url()).await
}

async fn open(
    opts: tollgate_store::ConnectOptions,
    url: &str,
) -> anyhow::Result<std::sync::Arc<dyn tollgate_store::Store>> {
    tollgate_store::open(&opts)
        .await
        .with_context(|| format!("cannot open database {}", tollgate_store::redact(url)))
}

/// What to do when the SQLite file a command looked for is not there.
fn missing_database(path: &Path) -> String {
    format!(
        "no Tollgate database at {}. Point this command at the server's data with --data-dir DIR \
         or --database-url URL (or TOLLGATE_DATA_DIR, TOLLGATE_DATABASE_URL, or tollgate.toml). \
         `tollgate serve` or `tollgate migrate` creates a new database.",
        path.display()
    )
}

/// The connection options the settings describe. A missing SQLite file is not created unless
/// the caller sets `create_if_missing` (see [`create_store`]).
pub fn connect_options(settings: &Settings) -> tollgate_store::ConnectOptions {
    let mut opts = tollgate_store::ConnectOptions::new(settings.database_url());
    opts.max_connections = settings.database_max_connections;
    opts.sqlite_synchronous_full =
        settings.sqlite_synchronous == tollgate_server::settings::SqliteSync::Full;
    opts.create_if_missing = false;
    opts
}

#[cfg(test)]
// figment's Jail closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn args() -> DbArgs {
        DbArgs {
            config: None,
            database_url: None,
            data_dir: None,
        }
    }

    #[test]
    fn environment_variables_override_the_file_and_flags_override_both() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("tollgate.toml", "listen = \"127.0.0.1:7000\"\nmax_body_bytes = 10\n[pricing]\nrefresh_seconds = 5\n")?;
            jail.set_env("TOLLGATE_LISTEN", "127.0.0.1:7001");
            jail.set_env("TOLLGATE_BOOTSTRAP_API_KEY", "tg_chosen");
            jail.set_env("TOLLGATE_MESSAGE_LOGGING_LEVEL", "metadata");
            jail.set_env("TOLLGATE_PRICING__REFRESH_SECONDS", "9");
            jail.set_env("TOLLGATE_PAYMENTS__STRIPE__TENANT", "acme");
            jail.set_env("TOLLGATE_HTTP__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
            jail.set_env("TOLLGATE_API_KEY", "a client variable, not a setting");
            let s = load(&args(), &[]).map_err(|e| e.to_string())?;
            assert_eq!(s.listen.to_string(), "127.0.0.1:7001");
            assert_eq!(
                s.max_body_bytes, 10,
                "the file still applies where env is silent"
            );
            assert_eq!(s.pricing.refresh_seconds, 9);
            assert_eq!(s.payments.stripe.tenant.as_deref(), Some("acme"));
            assert_eq!(s.http.trusted_proxies, ["10.0.0.0/8"]);
            assert_eq!(
                s.message_logging_level,
                tollgate_server::settings::LoggingLevel::Metadata
            );
            use secrecy::ExposeSecret;
            assert_eq!(
                s.bootstrap_api_key
                    .as_ref()
                    .map(|k| k.expose_secret().to_string())
                    .as_deref(),
                Some("tg_chosen")
            );
            let flagged =
                load(&args(), &[("listen", "127.0.0.1:7002".into())]).map_err(|e| e.to_string())?;
            assert_eq!(flagged.listen.to_string(), "127.0.0.1:7002");
            Ok(())
        });
    }

    #[test]
    fn a_bad_setting_is_an_error_not_a_default() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TOLLGATE_MESSAGE_LOGGING_LEVEL", "everything");
            assert!(load(&args(), &[]).is_err());
            Ok(())
        });
    }

    #[test]
    fn end_user_tokens_are_configured_from_the_file_or_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tollgate.toml",
                "[auth.jwt]\nissuer = \"https://id.example\"\naudience = \"tollgate\"\nalgorithm = \"EdDSA\"\npublic_key_file = \"idp.pem\"\n",
            )?;
            jail.set_env("TOLLGATE_AUTH__JWT__TENANT_CLAIM", "org");
            let s = load(&args(), &[]).map_err(|e| e.to_string())?;
            let jwt = s.auth.jwt.as_ref().expect("configured");
            assert_eq!(
                jwt.algorithm,
                tollgate_server::settings::JwtAlgorithm::EdDsa
            );
            assert_eq!(jwt.tenant_claim, "org");
            assert_eq!(jwt.leeway_seconds, 30);
            jail.set_env("TOLLGATE_AUTH__JWT__ALGORITHM", "none");
            assert!(load(&args(), &[]).is_err(), "only HS256, RS256 and EdDSA");
            Ok(())
        });
    }

    #[test]
    fn mcp_egress_is_off_by_default_and_set_from_the_file_or_the_environment() {
        figment::Jail::expect_with(|jail| {
            let s = load(&args(), &[]).map_err(|e| e.to_string())?;
            assert!(!s.mcp.allow_stdio && !s.mcp.allow_private_networks);
            assert_eq!(s.mcp.timeout_ms, 10_000);
            jail.create_file(
                "tollgate.toml",
                "[mcp]\nallow_stdio = true\nmax_response_bytes = 1024\n",
            )?;
            jail.set_env("TOLLGATE_MCP__ALLOW_PRIVATE_NETWORKS", "true");
            let s = load(&args(), &[]).map_err(|e| e.to_string())?;
            assert!(s.mcp.allow_stdio && s.mcp.allow_private_networks);
            assert_eq!(s.mcp.max_response_bytes, 1024);
            jail.set_env("TOLLGATE_MCP__ALLOW_STDOI", "true");
            assert!(
                load(&args(), &[]).is_err(),
                "a misspelled setting is an error"
            );
            Ok(())
        });
    }

    /// Every amount setting, as a dotted key.
    const AMOUNTS: [&str; 5] = [
        "webhooks.balance_low",
        "billing.account.daily_limit",
        "billing.account.monthly_limit",
        "alerts.unusual_spend.min_amount",
        "alerts.unusual_spend.multiple",
    ];

    /// The text each amount setting holds.
    fn amounts(s: &Settings) -> Vec<Option<String>> {
        let b = &s.billing.account;
        [
            s.webhooks.balance_low.as_deref(),
            b.daily_limit.as_deref(),
            b.monthly_limit.as_deref(),
            Some(&*s.alerts.unusual_spend.min_amount),
            s.alerts.unusual_spend.multiple.as_deref(),
        ]
        .into_iter()
        .map(|a| a.map(str::to_string))
        .collect()
    }

    /// A TOML file setting every amount to `value`.
    fn amounts_file(value: &str) -> String {
        AMOUNTS.map(|key| format!("{key} = {value}\n")).concat()
    }

    /// Amounts as people write them (an integer, a decimal number, a string) and the text read.
    const WRITTEN_AND_READ: [(&str, &str); 7] = [
        ("5", "5"),
        ("5.00", "5"),
        ("0.25", "0.25"),
        ("\"5\"", "5"),
        ("\"5.00\"", "5.00"),
        ("\"0.000000001\"", "0.000000001"),
        ("1234567890.12345", "1234567890.12345"),
    ];

    #[test]
    fn every_amount_is_read_exactly_as_an_integer_a_decimal_number_or_a_string_from_the_file() {
        for (written, read) in WRITTEN_AND_READ {
            figment::Jail::expect_with(|jail| {
                jail.create_file("tollgate.toml", &amounts_file(written))?;
                let s = load(&args(), &[]).map_err(|e| format!("{written}: {e:#}"))?;
                assert_eq!(amounts(&s), vec![Some(read.to_string()); 5], "{written}");
                // The text is what the exact parser reads at start.
                for amount in amounts(&s).into_iter().flatten() {
                    tollgate_core::Nanos::parse_exact(&amount).map_err(|e| e.to_string())?;
                }
                Ok(())
            });
        }
    }

    #[test]
    fn every_amount_is_read_exactly_as_an_integer_a_decimal_number_or_a_string_from_the_environment(
    ) {
        for (written, read) in WRITTEN_AND_READ {
            figment::Jail::expect_with(|jail| {
                jail.create_file("tollgate.toml", &amounts_file("\"99\""))?;
                for key in AMOUNTS {
                    let name = format!("TOLLGATE_{}", key.replace('.', "__").to_ascii_uppercase());
                    jail.set_env(name, written);
                }
                let s = load(&args(), &[]).map_err(|e| format!("{written}: {e:#}"))?;
                assert_eq!(amounts(&s), vec![Some(read.to_string()); 5], "{written}");
                Ok(())
            });
        }
    }

    #[test]
    fn an_amount_number_of_sixteen_significant_digits_is_refused_with_a_hint_to_quote_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tollgate.toml",
                "[webhooks]\nbalance_low = 1234.567890123456\n",
            )?;
            let error = format!("{:#}", load(&args(), &[]).expect_err("16 digits"));
            assert!(
                error.contains("more than 15 significant digits")
                    && error.contains("quote")
                    && error.contains("balance_low"),
                "{error}"
            );
            jail.create_file(
                "tollgate.toml",
                "[webhooks]\nbalance_low = \"1234.567890123456\"\n",
            )?;
            let s = load(&args(), &[]).map_err(|e| format!("{e:#}"))?;
            assert_eq!(s.webhooks.balance_low.as_deref(), Some("1234.567890123456"));
            jail.set_env("TOLLGATE_WEBHOOKS__BALANCE_LOW", "1234.567890123456");
            let error = format!("{:#}", load(&args(), &[]).expect_err("16 digits"));
            assert!(error.contains("more than 15 significant digits"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn defaults_need_no_configuration() {
        figment::Jail::expect_with(|_| {
            let s = load(&args(), &[]).map_err(|e| e.to_string())?;
            assert_eq!(s.listen.to_string(), "127.0.0.1:8000");
            assert!(s.database_url().starts_with("sqlite://"));
            assert!(s.auth.jwt.is_none(), "end-user tokens are off by default");
            Ok(())
        });
    }
}
