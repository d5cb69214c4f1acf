//! Renewal and relaying over mutual TLS (issue 13): `POST /api/v1/renew`, a registered child's
//! request for a new certificate for its own org, sent with the certificate it has; and `POST
//! /api/v1/sign`, a child hub relaying a request for one of its own counties (enrolled or renewed
//! there) to the hub that holds the CA.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bangfu_shared::protocol::enrolment::{RenewRequest, SignRequest};

use super::ApiState;
use super::enrol::refusal;
use super::extract::ChildOrg;
use crate::enrolment;

/// A child's new certificate for its own org (the CSR must name the certificate's org).
pub async fn renew(
    State(state): State<ApiState>,
    ChildOrg(org): ChildOrg,
    Json(req): Json<RenewRequest>,
) -> Response {
    let hub = &state.hub;
    let signed = match enrolment::child_name(&hub.store, &org).await {
        Ok(name) => enrolment::sign(hub, &org, &name, &req.csr).await,
        Err(e) => Err(e),
    };
    match signed {
        Ok(issued) => {
            tracing::info!(org = %org, serial = %issued.serial, "certificate renewed");
            Json(issued).into_response()
        }
        Err(e) => refusal(e),
    }
}

/// A certificate for a county under the relaying child hub.
pub async fn sign(
    State(state): State<ApiState>,
    ChildOrg(relay): ChildOrg,
    Json(req): Json<SignRequest>,
) -> Response {
    if let Err(e) = enrolment::may_relay(&relay, &req.org) {
        return refusal(e);
    }
    match enrolment::sign(&state.hub, &req.org, &req.name, &req.csr).await {
        Ok(issued) => {
            tracing::info!(org = %req.org, relay = %relay, serial = %issued.serial, "certificate signed for a relaying hub");
            Json(issued).into_response()
        }
        Err(e) => refusal(e),
    }
}
