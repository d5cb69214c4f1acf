//! Users, lock-out, sessions and the audit log, in the tables of `schema.sql`.
//!
//! Every query is portable SQL over `sqlx::AnyPool` (`$1` placeholders, TEXT and BIGINT): the hub
//! runs them on its SQLite or PostgreSQL store, the node on its archive.db. Times are Unix seconds
//! from the application's [`Clock`], so tests move time instead of sleeping.

use std::path::Path;
use std::sync::Arc;

use bangfu_shared::time::{Clock, SystemClock};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use crate::password::{self, Weak};
use crate::roles::RoleSet;

/// What can go wrong managing accounts. Each says what was wrong in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no user named {0:?} / 没有该用户")]
    UnknownUser(String),
    #[error("a user named {0:?} already exists / 用户已存在")]
    UserExists(String),
    #[error("unknown role {role:?}: use one of {known} / 角色无效")]
    UnknownRole { role: String, known: String },
    #[error(
        "invalid user name {0:?}: 1 to 64 characters, no spaces or control characters / 用户名无效"
    )]
    BadUsername(String),
    #[error("{0}")]
    WeakPassword(#[from] Weak),
    #[error("accounts database: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long sessions live and how many failed logins lock a name or an address out.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// A session unused this long (seconds) is over.
    pub idle: i64,
    /// A session is over this long (seconds) after login, used or not.
    pub absolute: i64,
    /// The lock-out window (seconds): failures older than this are forgotten.
    pub window: i64,
    /// Failures of one user name within the window that lock it.
    pub max_failures_per_user: i64,
    /// Failures from one client address within the window that lock it. Higher than per user:
    /// an office behind one proxy shares an address.
    pub max_failures_per_client: i64,
    /// Cookies carry `Secure` (set when the page is served over TLS).
    pub secure_cookies: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            idle: 30 * 60,
            absolute: 12 * 3600,
            window: 15 * 60,
            max_failures_per_user: 5,
            max_failures_per_client: 20,
            secure_cookies: false,
        }
    }
}

/// A user as `user list` shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub username: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub username: String,
    pub client: String,
    pub action: String,
    pub detail: String,
}

/// Why a login did not succeed. Deliberately coarse: a wrong password, an unknown name and a
/// disabled account look the same to the person at the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// Wrong name or password (or a disabled account).
    Wrong,
    /// Too many failures for this name or from this address within the window.
    LockedOut,
}

/// A session just made by a login: the raw id goes into the cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub csrf: String,
}

/// A live session as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub username: String,
    pub role: String,
    pub csrf: String,
}

/// The accounts of one application.
#[derive(Clone)]
pub struct Accounts {
    pool: AnyPool,
    roles: RoleSet,
    clock: Arc<dyn Clock>,
    policy: Policy,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("roles", &self.roles)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// 256 random bits, hex.
pub(crate) fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Accounts {
    /// Accounts in `pool`, whose migrations already made the tables of `schema.sql`.
    pub fn new(pool: AnyPool, roles: RoleSet) -> Accounts {
        Accounts {
            pool,
            roles,
            clock: Arc::new(SystemClock),
            policy: Policy::default(),
        }
    }

    /// Opens an SQLite database file (the node's archive.db) through `sqlx::Any`. The file and its
    /// tables must exist: the owner's migrations make them.
    pub async fn open_sqlite(path: &Path, roles: RoleSet) -> Result<Accounts> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rw", path.display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await?;
        Ok(Accounts::new(pool, roles))
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Accounts {
        self.clock = clock;
        self
    }

    pub fn with_policy(mut self, policy: Policy) -> Accounts {
        self.policy = policy;
        self
    }

    pub fn roles(&self) -> RoleSet {
        self.roles
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    fn check_role(&self, role: &str) -> Result<()> {
        match self.roles.rank(role) {
            Some(_) => Ok(()),
            None => Err(Error::UnknownRole {
                role: role.to_string(),
                known: self.roles.names(),
            }),
        }
    }

    /// Adds a user; refuses an existing name, an unknown role or a weak password.
    pub async fn add_user(&self, username: &str, role: &str, password: &str) -> Result<()> {
        check_username(username)?;
        self.check_role(role)?;
        password::check_strength(username, password)?;
        if self.user(username).await?.is_some() {
            return Err(Error::UserExists(username.to_string()));
        }
        let hash = hash_blocking(password).await;
        let now = self.now();
        sqlx::query(
            "INSERT INTO web_users (username, role, password_hash, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4)",
        )
        .bind(username)
        .bind(role)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.audit(username, "cli", "user_add", role).await?;
        Ok(())
    }

    /// Sets a new password and ends the user's sessions (whoever knew the old one is logged out).
    pub async fn set_password(&self, username: &str, password: &str) -> Result<()> {
        password::check_strength(username, password)?;
        self.require_user(username).await?;
        let hash = hash_blocking(password).await;
        sqlx::query("UPDATE web_users SET password_hash = $1, updated_at = $2 WHERE username = $3")
            .bind(hash)
            .bind(self.now())
            .bind(username)
            .execute(&self.pool)
            .await?;
        self.end_sessions_of(username).await?;
        self.audit(username, "cli", "user_passwd", "").await?;
        Ok(())
    }

    /// Disables a user and ends their sessions at once.
    pub async fn disable(&self, username: &str) -> Result<()> {
        self.require_user(username).await?;
        sqlx::query("UPDATE web_users SET disabled = 1, updated_at = $1 WHERE username = $2")
            .bind(self.now())
            .bind(username)
            .execute(&self.pool)
            .await?;
        self.end_sessions_of(username).await?;
        self.audit(username, "cli", "user_disable", "").await?;
        Ok(())
    }

    /// Every user, by name.
    pub async fn list(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT username, role, disabled, created_at FROM web_users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT username, role, disabled, created_at FROM web_users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn require_user(&self, username: &str) -> Result<User> {
        self.user(username)
            .await?
            .ok_or_else(|| Error::UnknownUser(username.to_string()))
    }

    async fn end_sessions_of(&self, username: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn failures(&self, column: &str, value: &str, since: i64) -> Result<i64> {
        // `column` is one of two constants below, never input.
        let sql = match column {
            "username" => "SELECT count(*) FROM web_login_failures WHERE username = $1 AND at > $2",
            _ => "SELECT count(*) FROM web_login_failures WHERE client = $1 AND at > $2",
        };
        let n: i64 = sqlx::query_scalar(sql)
            .bind(value)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Whether `username` or `client` is locked out now.
    pub async fn locked_out(&self, username: &str, client: &str) -> Result<bool> {
        let since = self.now() - self.policy.window;
        Ok(
            self.failures("username", username, since).await? >= self.policy.max_failures_per_user
                || self.failures("client", client, since).await?
                    >= self.policy.max_failures_per_client,
        )
    }

    /// Checks a name and password from `client`; on success a new session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &str,
    ) -> Result<std::result::Result<NewSession, LoginRefused>> {
        let now = self.now();
        // Old failures are of no further use; dropping them keeps the table small.
        sqlx::query("DELETE FROM web_login_failures WHERE at <= $1")
            .bind(now - self.policy.window)
            .execute(&self.pool)
            .await?;
        if self.locked_out(username, client).await? {
            self.audit(username, client, "login_locked", "").await?;
            return Ok(Err(LoginRefused::LockedOut));
        }
        let row = sqlx::query("SELECT password_hash, disabled FROM web_users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        let (stored, disabled) = match &row {
            Some(r) => (r.get::<String, _>(0), r.get::<i64, _>(1) != 0),
            None => (password::decoy().to_string(), false),
        };
        let matches = verify_blocking(password, stored).await;
        if !(matches && row.is_some() && !disabled) {
            let why = if row.is_none() {
                "unknown user"
            } else if disabled {
                "disabled"
            } else {
                "wrong password"
            };
            sqlx::query(
                "INSERT INTO web_login_failures (username, client, at) VALUES ($1, $2, $3)",
            )
            .bind(username)
            .bind(client)
            .bind(now)
            .execute(&self.pool)
            .await?;
            self.audit(username, client, "login_failed", why).await?;
            if self.locked_out(username, client).await? {
                self.audit(username, client, "lockout", "").await?;
            }
            return Ok(Err(LoginRefused::Wrong));
        }
        sqlx::query("DELETE FROM web_login_failures WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        let session = NewSession {
            id: random_token(),
            csrf: random_token(),
        };
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, username, csrf, created_at, last_seen, client) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(id_hash(&session.id))
        .bind(username)
        .bind(&session.csrf)
        .bind(now)
        .bind(client)
        .execute(&self.pool)
        .await?;
        self.audit(username, client, "login", "").await?;
        Ok(Ok(session))
    }

    /// The session with cookie id `id`, if it is live: not expired (idle or absolute), its user not
    /// disabled. An expired session is deleted on sight.
    pub async fn session(&self, id: &str) -> Result<Option<LiveSession>> {
        let hash = id_hash(id);
        let row = sqlx::query(
            "SELECT s.username, u.role, s.csrf, s.created_at, s.last_seen, u.disabled \
             FROM web_sessions s JOIN web_users u ON u.username = s.username WHERE s.id_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let now = self.now();
        let created: i64 = row.get(3);
        let last_seen: i64 = row.get(4);
        let disabled = row.get::<i64, _>(5) != 0;
        if disabled || now - last_seen > self.policy.idle || now - created > self.policy.absolute {
            sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                .bind(&hash)
                .execute(&self.pool)
                .await?;
            return Ok(None);
        }
        // Written at most once a minute: a page's event stream should not make a write per request.
        // A failed touch (the node's archive locked by a long import) does not end the session:
        // the worst it does is shorten the idle time by a minute.
        if now - last_seen >= 60
            && let Err(e) = sqlx::query("UPDATE web_sessions SET last_seen = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&hash)
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "recording a session's last use");
        }
        Ok(Some(LiveSession {
            username: row.get(0),
            role: row.get(1),
            csrf: row.get(2),
        }))
    }

    /// Ends the session with cookie id `id` (logout).
    pub async fn logout(&self, id: &str, client: &str) -> Result<()> {
        let hash = id_hash(id);
        let user: Option<String> =
            sqlx::query_scalar("SELECT username FROM web_sessions WHERE id_hash = $1")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?;
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(&hash)
            .execute(&self.pool)
            .await?;
        if let Some(user) = user {
            self.audit(&user, client, "logout", "").await?;
        }
        Ok(())
    }

    /// Writes one line of the audit log.
    pub async fn audit(
        &self,
        username: &str,
        client: &str,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_audit (at, username, client, action, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.now())
        .bind(username)
        .bind(client)
        .bind(action)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A reviewer's decision on the hub (`detail` e.g. "2026-songnuan H01 v3 returned: reason").
    pub async fn record_decision(&self, username: &str, client: &str, detail: &str) -> Result<()> {
        self.audit(username, client, "decision", detail).await
    }

    /// A view of one household's record on the node (`staff_no`: the 职工编号 viewed). The log stays
    /// on the node.
    pub async fn record_household_view(
        &self,
        username: &str,
        client: &str,
        staff_no: &str,
    ) -> Result<()> {
        self.audit(username, client, "household_view", staff_no)
            .await
    }

    /// The latest `limit` lines of the audit log, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, username, client, action, detail FROM web_audit ORDER BY at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                at: r.get(0),
                username: r.get(1),
                client: r.get(2),
                action: r.get(3),
                detail: r.get(4),
            })
            .collect())
    }
}

fn user_from_row(r: &sqlx::any::AnyRow) -> User {
    User {
        username: r.get(0),
        role: r.get(1),
        disabled: r.get::<i64, _>(2) != 0,
        created_at: r.get(3),
    }
}

fn check_username(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > 64 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::BadUsername(name.to_string()));
    }
    Ok(())
}

/// Argon2 takes tens of milliseconds of CPU: off the async workers.
async fn hash_blocking(password: &str) -> String {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .expect("hashing does not panic")
}

async fn verify_blocking(password: &str, stored: String) -> bool {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || password::verify(&password, &stored))
        .await
        .expect("verifying does not panic")
}
