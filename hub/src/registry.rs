//! The registry of child unions: only a registered org may report to this hub, and the registered
//! orgs are the ones a rollup expects.

use bangfu_shared::org::OrgCode;

use crate::store::{Error, Result, Store};

/// A registered child union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub code: OrgCode,
    pub name: String,
    pub email: Option<String>,
    pub webhook: Option<String>,
}

/// Registers a child; registering the same code again updates its name and contacts.
#[tracing::instrument(skip(store))]
pub async fn add(store: &Store, org: &Org) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339();
    sqlx::query(
        "INSERT INTO orgs (code, name, email, webhook, registered_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, email = excluded.email, webhook = excluded.webhook",
    )
    .bind(org.code.as_str().to_string())
    .bind(org.name.clone())
    .bind(org.email.clone())
    .bind(org.webhook.clone())
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Whether `code` is a registered child.
pub async fn is_registered(store: &Store, code: &OrgCode) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT code FROM orgs WHERE code = $1")
        .bind(code.as_str().to_string())
        .fetch_optional(&store.pool)
        .await?;
    Ok(row.is_some())
}

/// Every registered child, by code.
pub async fn list(store: &Store) -> Result<Vec<Org>> {
    let rows: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT code, name, email, webhook FROM orgs ORDER BY code")
            .fetch_all(&store.pool)
            .await?;
    rows.into_iter()
        .map(|(code, name, email, webhook)| {
            let code = OrgCode::parse(&code).map_err(|e| Error::Corrupt(e.to_string()))?;
            Ok(Org {
                code,
                name,
                email,
                webhook,
            })
        })
        .collect()
}
