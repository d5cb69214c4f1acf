//! `POST /api/v1/reports`: a child's report, checked and stored by the intake; 201 with a receipt
//! for a new version, 200 for one already held (a resend), a problem document otherwise. The
//! sender's detached JWS over the body comes in the `bangfu-signature` header.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bangfu_shared::protocol::{ReceiptStatus, SIGNATURE_HEADER};

use super::ApiState;
use super::extract::PeerOrg;
use crate::error::Error;
use crate::intake;
use crate::signed::Verifier;

pub async fn post(
    State(state): State<ApiState>,
    PeerOrg(org): PeerOrg,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let body = body.map_err(|e| match e {
        _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge,
        // Not over the limit, yet not read whole: the connection broke mid-body.
        BytesRejection::FailedToBufferBody(_) => Error::BodyLost(e.body_text()),
        _ => Error::BadRequest(e.body_text()),
    })?;
    let jws = headers
        .get(SIGNATURE_HEADER)
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::BadRequest("the signature header is not ASCII".into()))
        })
        .transpose()?;
    let intake::Received {
        receipt,
        versions_held,
    } = intake::receive_with(
        &state.hub.store,
        &org,
        intake::Signed { body: &body, jws },
        state.hub.now(),
        &state.hub.config.intake,
        &Verifier::new(state.revocations.clone()),
    )
    .await?;
    let status = if receipt.status == ReceiptStatus::Accepted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if status == StatusCode::CREATED {
        crate::prune::after_intake_logged(&state.hub, &org, &receipt.campaign, versions_held).await;
        if let Some(upstream) = &state.upstream {
            upstream.report_accepted();
        }
        state.changes.bump();
    }
    Ok((status, Json(receipt)).into_response())
}
