//! Tenants and API keys: who may call, with which scopes and role.

/// A tenant: a project or organisation whose data is isolated from every other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// `tnt_…`
    pub id: String,
    /// Unique, human-chosen name.
    pub name: String,
    /// Creation time.
    pub created_us: i64,
    /// Number of events in the tenant's log.
    pub log_size: i64,
    /// Its plan; None means the configured default plan.
    pub plan: Option<String>,
}

/// What a tenant API key may do within its own tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Log usage and authorize calls.
    Ingest,
    /// Read stats, logs, receipts and balances.
    Read,
    /// Change the tenant's own settings: account limits, webhooks.
    Admin,
    /// Move the tenant's money: top-ups, refunds, adjustments, account limits.
    Billing,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Admin, Scope::Billing];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
            Scope::Billing => "billing",
        }
    }

    /// Reads a scope name.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name.trim())
    }

    /// Reads a comma-separated list, refusing unknown names.
    pub fn parse_list(list: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| {
                if name == "operator" {
                    "operator is not a scope but a role held by keys created as operator keys \
                     (`tollgate keys create --operator`)"
                        .to_string()
                } else {
                    format!("unknown scope '{name}' (known: ingest, read, admin, billing)")
                }
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("a key needs at least one scope".to_string());
        }
        scopes.sort();
        Ok(scopes)
    }

    /// Joins scopes for storage.
    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Who a key acts for. Stored in a column of its own, apart from the scopes, so that no list
/// of scopes (which tenant admins choose and read) can carry the deployment-wide role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// A tenant key: its scopes, within its own tenant.
    Tenant,
    /// An operator key: everything, in any tenant (`X-Tenant-Id`), plus plans and tenants.
    /// Only a key created as one, or granted the role explicitly, holds it.
    Operator,
}

impl KeyRole {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Tenant => "tenant",
            KeyRole::Operator => "operator",
        }
    }

    /// Reads a stored role.
    pub fn parse(name: &str) -> Option<KeyRole> {
        match name {
            "tenant" => Some(KeyRole::Tenant),
            "operator" => Some(KeyRole::Operator),
            _ => None,
        }
    }
}

/// A key to create. The caller generates the secret and passes only its hash.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// `key_…`
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// SHA-256 hex of the secret.
    pub key_hash: String,
    /// The first characters of the secret, for listings.
    pub prefix: String,
    /// Optional label.
    pub name: Option<String>,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Tenant or operator key.
    pub role: KeyRole,
}

/// A key as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// `key_…`
    pub id: String,
    /// Owning tenant id.
    pub tenant_id: String,
    /// Owning tenant name.
    pub tenant_name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// Optional label.
    pub name: Option<String>,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Tenant or operator key.
    pub role: KeyRole,
    /// Creation time.
    pub created_us: i64,
    /// Revocation time, if revoked.
    pub revoked_us: Option<i64>,
}
