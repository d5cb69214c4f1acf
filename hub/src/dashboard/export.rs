//! `/campaigns/{id}/official/{format}`: the official table (`crate::official`, the seed form's
//! layout) of the rollup on screen, as a download: `xlsx`, `csv` or `table` (text). The same
//! renderer as `bangfu-hub rollup --format`; the rollup is the one the page shows ([`super::live`]),
//! not a second computation. Each download is a line of the audit log.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bangfu_shared::protocol::CampaignId;

use super::DashboardState;
use super::access::Session;
use super::campaign::campaign;
use crate::error::Error;
use crate::official::{self, Format};

pub async fn download(
    who: Session,
    State(s): State<DashboardState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path((id, format)): Path<(CampaignId, String)>,
) -> Result<Response, Error> {
    let format: Format = format
        .parse()
        .map_err(|e: official::Error| Error::NotFound(e.to_string()))?;
    let (c, _) = campaign(&s.hub.store, &id).await?;
    let rollup = s.live.rollup(&id).await?;
    let json = serde_json::to_value(&*rollup).expect("a rollup serialises");
    let table = official::render_rollup(json, &c, s.hub.clock.today(), format)
        .map_err(|e| Error::Unprocessable(format!("the official table: {e}")))?;
    let client = client.map_or_else(|| "unknown".into(), |Extension(c)| c.0.ip().to_string());
    if let Err(e) = s
        .accounts
        .audit(
            &who.user,
            &client,
            "export",
            &format!("{} {id} v{}", format.as_str(), rollup.version),
        )
        .await
    {
        tracing::error!(error = %e, "the audit log did not take a download");
    }
    let disposition = format!("attachment; filename=\"{}\"", table.file_name);
    let mut res = table.bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(table.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The download links on the campaign page.
pub fn links(id: &CampaignId) -> String {
    let id = percent_encoding::utf8_percent_encode(id.as_str(), percent_encoding::NON_ALPHANUMERIC);
    format!(
        "<p class=\"downloads\" id=\"official\">正式报表 official table: \
         <a href=\"/campaigns/{id}/official/xlsx\">Excel (.xlsx)</a> · \
         <a href=\"/campaigns/{id}/official/csv\">CSV</a> · \
         <a href=\"/campaigns/{id}/official/table\">文本 text</a></p>"
    )
}
