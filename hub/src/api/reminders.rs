//! `GET /api/v1/reminders`: the reminders this hub made for the asking child (its own only),
//! newest first.

use axum::Json;
use axum::extract::State;
use bangfu_shared::protocol::ReminderList;

use super::ApiState;
use super::extract::ChildOrg;
use crate::error::Error;

pub async fn get(
    State(state): State<ApiState>,
    ChildOrg(org): ChildOrg,
) -> Result<Json<ReminderList>, Error> {
    let reminders = crate::reminders::for_org(&state.hub.store, &org).await?;
    Ok(Json(ReminderList { reminders }))
}
