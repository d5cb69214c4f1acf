//! Certificates for the tree without shipped keys (issue 13): the one-time codes a hub hands its
//! children (`bangfu-hub pki enrol-code`, `org add --enrol`), redeeming one, and who signs.
//!
//! Only the hub started with the CA (hub.toml `pki` holding `ca-key.pem`, the province) signs. A hub
//! without it (a prefecture) checks its child's code or certificate itself and relays the request
//! to its own parent over its mTLS link (`POST /api/v1/sign`); the parent signs only for a county
//! under the hub that relays it (H01 and H08 under H), so a prefecture cannot get a certificate
//! for another prefecture's county, nor for a hub.

use bangfu_client::Parent;
use bangfu_client::enrol as codes;
use bangfu_client::pki::{self, CsrError, SignError};
use bangfu_shared::org::{Level, OrgCode};
use bangfu_shared::protocol::enrolment::Issued;
use chrono::{DateTime, Duration, Utc};

use crate::app::Hub;
use crate::registry;
use crate::store::{self, Store};

/// Wrong tries against one org's code before the code dies.
pub const MAX_ATTEMPTS: i64 = 5;
/// How long a certificate made by enrolment or renewal is valid; renewed at two thirds of it.
pub const CERTIFICATE_DAYS: u32 = 365;

/// Why a certificate request was not granted. The text goes back to the asker, so it says what
/// was wrong without saying anything of another org.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The code is not one this hub issued (or it was mistyped).
    #[error(
        "the enrolment code is not valid here (mistyped, or issued by another hub) / 注册码无效"
    )]
    UnknownCode,
    /// The code was redeemed already.
    #[error(
        "the enrolment code was already used on {0}; ask the parent's operator for a new one / 注册码已使用"
    )]
    Used(String),
    /// The code's time ran out.
    #[error(
        "the enrolment code expired on {0}; ask the parent's operator for a new one / 注册码已过期"
    )]
    Expired(String),
    /// Too many wrong tries for this org: the code is dead.
    #[error(
        "too many wrong attempts for {0}; its enrolment code no longer works, ask for a new one / 尝试次数过多,注册码已作废"
    )]
    Locked(OrgCode),
    /// A code for one org used to ask for another's certificate.
    #[error(
        "the enrolment code was issued for {issued_for}, but the request is for {asked} / 注册码与单位不符"
    )]
    OtherOrg { issued_for: OrgCode, asked: OrgCode },
    /// The request itself is unacceptable.
    #[error(transparent)]
    Request(#[from] CsrError),
    /// The org is not a registered child here (renewal, relay).
    #[error("{0} is not a registered child of this hub / 未登记的下级单位")]
    NotAChild(OrgCode),
    /// A relaying hub asked for an org that is not one of its counties.
    #[error(
        "{relay} may only relay requests for its own counties, not for {asked} / 只能为本级下属县级单位申请证书"
    )]
    NotUnder { relay: OrgCode, asked: OrgCode },
    /// Neither the CA's key nor a parent to ask.
    #[error("this hub holds no CA key and has no parent to relay to / 本级无法签发证书")]
    CannotSign,
    /// The parent refused or could not be reached when relaying.
    #[error("the parent hub did not sign: {0} / 上级未签发")]
    Relay(String),
    /// The CA folder could not be used.
    #[error("the CA: {0}")]
    Ca(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<SignError> for Error {
    fn from(e: SignError) -> Error {
        match e {
            SignError::Request(r) => Error::Request(r),
            SignError::Ca(c) => Error::Ca(c.to_string()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        Error::Store(e.into())
    }
}

/// A new code for `org`, valid for `valid` from `now`; any unused code of the org is withdrawn.
/// Returns the code as people type it; only its hash is stored.
pub async fn new_code(
    store: &Store,
    org: &OrgCode,
    valid: Duration,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), Error> {
    let code = codes::new_code();
    let hash = codes::code_hash(&codes::normalise_code(&code).expect("a code made here"));
    let expires = now + valid;
    let mut tx = store.pool.begin().await?;
    sqlx::query("DELETE FROM enrolment_codes WHERE org = $1 AND used_at IS NULL")
        .bind(org.as_str().to_string())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO enrolment_codes (code_hash, org, created_at, expires_at, failed_attempts) VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(hash)
    .bind(org.as_str().to_string())
    .bind(now.to_rfc3339())
    .bind(expires.to_rfc3339())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((code, expires))
}

/// A code claimed for one enrolment: [`release`] it if the certificate could not be made.
#[derive(Debug)]
pub struct Claim {
    hash: String,
}

/// Redeems `typed` for `asked` at `now`: the code must be this hub's, unused, unexpired, not
/// locked, and for `asked`. A wrong try counts against the org's code; the code is claimed (used)
/// in the same statement that checks it is unused, so two requests cannot both redeem it.
pub async fn redeem(
    store: &Store,
    typed: &str,
    asked: &OrgCode,
    now: DateTime<Utc>,
) -> Result<Claim, Error> {
    let Ok(normalised) = codes::normalise_code(typed) else {
        count_failure_for(store, asked).await?;
        return Err(Error::UnknownCode);
    };
    let hash = codes::code_hash(&normalised);
    let row: Option<(String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT org, expires_at, used_at, failed_attempts FROM enrolment_codes WHERE code_hash = $1",
    )
    .bind(hash.clone())
    .fetch_optional(&store.pool)
    .await?;
    let Some((org, expires_at, used_at, failed)) = row else {
        count_failure_for(store, asked).await?;
        return Err(Error::UnknownCode);
    };
    let issued_for = OrgCode::parse(&org).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    if let Some(at) = used_at {
        return Err(Error::Used(at));
    }
    if failed >= MAX_ATTEMPTS {
        return Err(Error::Locked(issued_for));
    }
    let expires = DateTime::parse_from_rfc3339(&expires_at)
        .map_err(|e| store::Error::Corrupt(e.to_string()))?
        .with_timezone(&Utc);
    if expires <= now {
        return Err(Error::Expired(expires_at));
    }
    if &issued_for != asked {
        count_failure(store, &hash).await?;
        return Err(Error::OtherOrg {
            issued_for,
            asked: asked.clone(),
        });
    }
    let claimed = sqlx::query(
        "UPDATE enrolment_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND failed_attempts < $3",
    )
    .bind(now.to_rfc3339())
    .bind(hash.clone())
    .bind(MAX_ATTEMPTS)
    .execute(&store.pool)
    .await?;
    if claimed.rows_affected() != 1 {
        return Err(Error::Used(now.to_rfc3339()));
    }
    Ok(Claim { hash })
}

/// Gives a claimed code back (the certificate was not made), so the county can try again.
pub async fn release(store: &Store, claim: Claim) -> Result<(), Error> {
    sqlx::query("UPDATE enrolment_codes SET used_at = NULL WHERE code_hash = $1")
        .bind(claim.hash)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Records the certificate a claimed code produced.
pub async fn record(store: &Store, claim: &Claim, serial: &str) -> Result<(), Error> {
    sqlx::query("UPDATE enrolment_codes SET serial = $1 WHERE code_hash = $2")
        .bind(serial.to_string())
        .bind(claim.hash.clone())
        .execute(&store.pool)
        .await?;
    Ok(())
}

async fn count_failure(store: &Store, hash: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE enrolment_codes SET failed_attempts = failed_attempts + 1 WHERE code_hash = $1",
    )
    .bind(hash.to_string())
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// A wrong code for `org` counts against the org's open code, if it has one.
async fn count_failure_for(store: &Store, org: &OrgCode) -> Result<(), Error> {
    sqlx::query(
        "UPDATE enrolment_codes SET failed_attempts = failed_attempts + 1 WHERE org = $1 AND used_at IS NULL",
    )
    .bind(org.as_str().to_string())
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// The registered name of child `org`, which its certificate carries.
pub async fn child_name(store: &Store, org: &OrgCode) -> Result<String, Error> {
    registry::list(store)
        .await?
        .into_iter()
        .find(|o| &o.code == org)
        .map(|o| o.name)
        .ok_or_else(|| Error::NotAChild(org.clone()))
}

/// Whether `relay` may ask for a certificate for `asked`: a county whose code starts with the
/// relaying prefecture's letter (H01, 市直 H08 under H).
pub fn may_relay(relay: &OrgCode, asked: &OrgCode) -> Result<(), Error> {
    let under = relay.level() == Level::Prefecture
        && asked.level() == Level::County
        && asked.as_str().starts_with(relay.as_str());
    if under {
        Ok(())
    } else {
        Err(Error::NotUnder {
            relay: relay.clone(),
            asked: asked.clone(),
        })
    }
}

/// The CA folder, if this hub holds the CA's key.
fn ca_dir(hub: &Hub) -> Option<std::path::PathBuf> {
    let dir = hub.config.pki.as_ref()?;
    dir.join(pki::CA_KEY).exists().then(|| dir.clone())
}

/// The CA certificates this hub trusts (its `tls/ca.pem`, two during a rollover).
pub fn ca_bundle(hub: &Hub) -> Result<String, Error> {
    let path = hub.config.tls.join(pki::CA_CERT);
    std::fs::read_to_string(&path).map_err(|e| Error::Ca(format!("{}: {e}", path.display())))
}

/// Has `csr` signed for `org` (named `name`): with this hub's CA when it holds it, else by its
/// parent, relayed over this hub's own mTLS link.
pub async fn sign(hub: &Hub, org: &OrgCode, name: &str, csr: &str) -> Result<Issued, Error> {
    if let Some(dir) = ca_dir(hub) {
        let signed = pki::sign_request(&dir, org, name, csr, CERTIFICATE_DAYS)?;
        tracing::info!(org = %org, serial = %signed.serial, "certificate signed");
        return Ok(Issued {
            certificate: signed.certificate,
            ca: ca_bundle(hub)?,
            serial: signed.serial,
        });
    }
    // The request is checked here too, so a bad one is refused with its reason before it travels.
    let checked = pki::check_request(csr)?;
    if &checked.org != org {
        return Err(CsrError::WrongOrg {
            found: checked.org.to_string(),
            expected: org.clone(),
        }
        .into());
    }
    let Some(url) = hub.config.parent.as_deref() else {
        return Err(Error::CannotSign);
    };
    let parent = Parent::pinned(url, &hub.config.tls, hub.config.parent_org().as_ref())
        .map_err(|e| Error::Relay(e.to_string()))?;
    let issued = parent
        .sign_for(org, name, csr)
        .await
        .map_err(|e| Error::Relay(e.to_string()))?;
    tracing::info!(org = %org, serial = %issued.serial, "certificate signed by the parent");
    Ok(issued)
}

/// Warnings about certificates this hub knows of that end within 30 days: its own and its CA's
/// (tls folder), and, when it holds the CA, every org's newest certificate in the issue log.
pub fn certificate_warnings(hub: &Hub) -> Vec<String> {
    let now = hub.now();
    let mut lines = Vec::new();
    for file in [pki::CERT, pki::CA_CERT] {
        let path = hub.config.tls.join(file);
        if let Ok(pem) = std::fs::read_to_string(&path) {
            let what = format!("this hub's {} ({})", file, path.display());
            lines.extend(bangfu_client::expiry::warning(&what, &pem, now));
        }
    }
    if let Some(dir) = hub
        .config
        .pki
        .as_ref()
        .filter(|d| d.join(pki::CA_CERT).exists())
    {
        match pki::list(dir) {
            Ok(entries) => lines.extend(bangfu_client::expiry::issued_warnings(&entries, now)),
            Err(e) => lines.push(format!("reading the CA's issue log: {e}")),
        }
    }
    lines
}
