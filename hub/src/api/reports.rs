//! `POST /api/v1/reports`: a child's report, checked and stored by the intake; 201 with a receipt
//! for a new version, 200 for one already held (a resend), a problem document otherwise.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bangfu_shared::protocol::ReceiptStatus;

use super::ApiState;
use super::extract::PeerOrg;
use crate::error::Error;
use crate::intake;

pub async fn post(
    State(state): State<ApiState>,
    PeerOrg(org): PeerOrg,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let body = body.map_err(|e| match e {
        _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge,
        // Not over the limit, yet not read whole: the connection broke mid-body.
        BytesRejection::FailedToBufferBody(_) => Error::BodyLost(e.body_text()),
        _ => Error::BadRequest(e.body_text()),
    })?;
    let receipt = intake::receive_with(
        &state.hub.store,
        &org,
        &body,
        state.hub.now(),
        &state.hub.config.intake,
    )
    .await?;
    let status = if receipt.status == ReceiptStatus::Accepted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if status == StatusCode::CREATED {
        crate::prune::after_intake_logged(&state.hub, &org, &receipt.campaign).await;
        if let Some(upstream) = &state.upstream {
            upstream.report_accepted();
        }
        state.changes.bump();
    }
    Ok((status, Json(receipt)).into_response())
}
