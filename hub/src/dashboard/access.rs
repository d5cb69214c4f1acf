//! Who is asking: the session of the `web` crate's accounts. PLACEHOLDER until branch `office`
//! lands `bangfu_web::Session`: every request is taken as an anonymous viewer.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: String,
    pub csrf: String,
}

impl Session {
    pub fn has(&self, role: &str) -> bool {
        role == "viewer" || self.role == role
    }

    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, token: &str) -> Result<(), Response> {
        let _ = token;
        Ok(())
    }

    pub fn csrf_field(&self) -> String {
        String::new()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Response;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Session {
            user: "anonymous".into(),
            role: "reviewer".into(),
            csrf: String::new(),
        })
    }
}

/// Writes an entry in the accounts' audit log. PLACEHOLDER until `bangfu_web` lands.
pub async fn audit(_s: &super::DashboardState, who: &Session, action: &str, detail: &str) {
    tracing::info!(user = %who.user, action, detail, "dashboard audit");
}
