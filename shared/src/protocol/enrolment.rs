//! Certificates made on the child's own machine (issue 13): enrolment by a one-time code, renewal
//! over mutual TLS, and a hub relaying either to the hub that holds the CA. The child makes its key
//! and sends only a certificate signing request (PKCS #10, PEM); the private key never leaves it.
//!
//! | method and route | who asks | body in | body out |
//! | --- | --- | --- | --- |
//! | `GET` [`routes::CA`] | anyone, no client certificate | | the hub's CA certificates (PEM) |
//! | `POST` [`routes::ENROL`] | a new child, no client certificate | [`EnrolRequest`] | [`Issued`] |
//! | `POST` [`routes::RENEW`] | a child or the hub's parent-side self, mTLS | [`RenewRequest`] | [`Issued`] |
//! | `POST` [`routes::SIGN`] | a hub relaying for its child, mTLS | [`SignRequest`] | [`Issued`] |
//!
//! The CA certificates from [`routes::CA`] are read without any trust; the child keeps them only
//! when one matches the fingerprint printed with its code, and then talks to the hub with that CA
//! as its only root. Refusals are problem documents, as everywhere.

use serde::{Deserialize, Serialize};

use crate::org::OrgCode;

/// The routes of enrolment and renewal.
pub mod routes {
    /// The hub's CA certificates, for a child that knows only their fingerprint.
    pub const CA: &str = "/api/v1/enrol/ca";
    /// A new child's certificate request with its one-time code.
    pub const ENROL: &str = "/api/v1/enrol";
    /// A child's (or hub's) request for a new certificate for its own org, over mutual TLS.
    pub const RENEW: &str = "/api/v1/renew";
    /// A hub without the CA's key asking its parent to sign for one of its children.
    pub const SIGN: &str = "/api/v1/sign";
}

/// `POST /api/v1/enrol`: the code as typed (spaces, dashes and case do not matter) and the CSR.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub code: String,
    /// A PKCS #10 request in PEM, naming the org as the URI SAN `urn:bangfu:org:CODE`.
    pub csr: String,
}

/// `POST /api/v1/renew`: a CSR for the org of the client certificate it is sent with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub csr: String,
}

/// `POST /api/v1/sign`: a hub asks its parent to sign `csr` for its child `org`, after it checked
/// the child's code (enrolment) or certificate (renewal) itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    pub org: OrgCode,
    /// The child's name as registered at the relaying hub (the certificate's CN).
    pub name: String,
    pub csr: String,
}

/// The answer to every request for a certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issued {
    /// The new certificate (PEM).
    pub certificate: String,
    /// Every CA certificate the hierarchy trusts now (PEM, one or more: two during a CA rollover).
    pub ca: String,
    /// The serial, as `pki list` shows it.
    pub serial: String,
}
