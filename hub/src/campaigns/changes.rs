//! Campaigns change after they are created: a province moves a due date, corrects the end date (the
//! archive's as-of day) or the title. A change is made at the province (`campaign update`) and flows
//! down with the campaign list: a prefecture hub applies it at its next sync ([`store_from_parent`]),
//! and serves the changed list to its counties, whose ETag changes with it.
//!
//! The template is the one thing that cannot change once a child has reported: the stored reports
//! would then be of another table than the campaign says.

use chrono::NaiveDate;

use crate::campaigns::{self, Campaign, Due};
use crate::error::Error;
use crate::store::{self, Store};

/// What `campaign update` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub title: Option<String>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub due_county: Option<NaiveDate>,
    pub due_prefecture: Option<NaiveDate>,
    pub due_province: Option<NaiveDate>,
    /// A new template id and, for a template file, its text.
    pub template: Option<(String, Option<String>)>,
}

/// A campaign as `campaign list` shows it: the campaign, where it came from, and its revision.
#[derive(Debug, Clone)]
pub struct Listed {
    pub campaign: Campaign,
    /// `local` (created here) or `parent` (synced from the parent hub).
    pub origin: String,
    /// 1 when created, one more with every change.
    pub revision: i64,
}

/// Every campaign with its origin and revision, by id.
pub async fn list(store: &Store) -> Result<Vec<Listed>, Error> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT id, origin, revision FROM campaigns ORDER BY id")
            .fetch_all(&store.pool)
            .await
            .map_err(store::Error::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, origin, revision) in rows {
        let campaign = campaigns::get(store, &id).await?.ok_or_else(|| {
            store::Error::Corrupt(format!("campaign {id} vanished while listing"))
        })?;
        out.push(Listed {
            campaign,
            origin,
            revision,
        });
    }
    Ok(out)
}

/// How many reports this hub holds for a campaign (any child, any version).
async fn reports_held(store: &Store, id: &str) -> Result<i64, Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reports WHERE campaign = $1")
        .bind(id.to_string())
        .fetch_one(&store.pool)
        .await
        .map_err(store::Error::from)?;
    Ok(n)
}

/// Applies `change` to the local campaign `id` and returns it as changed (its revision counted up),
/// or the reason it is refused: no such campaign, one taken from the parent (change it there), dates
/// out of order, or a new template for a campaign children have already reported on.
pub async fn update(store: &Store, id: &str, change: &Change) -> Result<Campaign, Error> {
    let listed = list(store).await?;
    let Some(current) = listed.into_iter().find(|l| l.campaign.id == id) else {
        return Err(Error::NotFound(format!(
            "no campaign `{id}` on this hub / 没有该填报任务"
        )));
    };
    if current.origin != "local" {
        return Err(Error::Forbidden(format!(
            "campaign `{id}` came from the parent hub; only the province that created it can change it / 该任务由上级下发，须由上级修改"
        )));
    }
    let mut c = current.campaign;
    if let Some(t) = &change.title {
        c.title = t.clone();
    }
    c.start = change.start.unwrap_or(c.start);
    c.end = change.end.unwrap_or(c.end);
    c.due = Due {
        county: change.due_county.unwrap_or(c.due.county),
        prefecture: change.due_prefecture.unwrap_or(c.due.prefecture),
        province: change.due_province.or(c.due.province),
    };
    if c.start > c.end {
        return Err(Error::BadRequest(format!(
            "campaign `{id}`: the start {} would be after the end {} / 开始日期晚于结束日期",
            c.start, c.end
        )));
    }
    if let Some((template, body)) = &change.template {
        let changes = template != &c.template || body != &c.template_body;
        let held = reports_held(store, id).await?;
        if changes && held > 0 {
            return Err(Error::Conflict(format!(
                "campaign `{id}`: the template cannot change, this hub already holds {held} report(s) of template `{}`; create a new campaign instead / 已有上报数据，不能更换报表模板",
                c.template
            )));
        }
        c.template = template.clone();
        c.template_body = body.clone();
    }
    write(store, &c).await?;
    Ok(c)
}

/// Overwrites the stored definition of `c` and counts its revision up, if anything differs.
/// Returns whether it did.
async fn write(store: &Store, c: &Campaign) -> Result<bool, Error> {
    let done = campaigns::bind_definition(
        sqlx::query(
            "UPDATE campaigns SET template = $2, title = $3, start_on = $4, end_on = $5, due_county = $6, due_prefecture = $7,
                    due_province = $8, template_body = $9, revision = revision + 1
             WHERE id = $1 AND NOT (template = $2 AND title = $3 AND start_on = $4 AND end_on = $5 AND due_county = $6
                    AND due_prefecture = $7 AND COALESCE(due_province, '') = COALESCE($8, '') AND COALESCE(template_body, '') = COALESCE($9, ''))",
        ),
        c,
    )
    .execute(&store.pool)
    .await
    .map_err(store::Error::from)?;
    Ok(done.rows_affected() == 1)
}

/// What storing a campaign from the parent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    New,
    Updated,
    Unchanged,
}

/// Stores a campaign as the parent sent it: new ones inserted with origin `origin`, changed ones
/// overwritten (the parent is authoritative for its campaigns), equal ones left alone.
pub async fn store_from_parent(
    store: &Store,
    c: &Campaign,
    origin: &str,
) -> Result<Applied, Error> {
    if campaigns::create(store, c, origin).await? {
        return Ok(Applied::New);
    }
    Ok(if write(store, c).await? {
        Applied::Updated
    } else {
        Applied::Unchanged
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::campaigns::fixtures::{day, songnuan as campaign};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::config::sqlite_url(dir.path()))
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_due_date_change_is_stored_and_counts_the_revision_up() {
        let (_d, store) = store().await;
        campaigns::create(&store, &campaign(), "local")
            .await
            .unwrap();
        let changed = update(
            &store,
            "sn",
            &Change {
                due_county: Some(day("2026-02-20")),
                ..Change::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(changed.due.county, day("2026-02-20"));
        let listed = list(&store).await.unwrap();
        assert_eq!(
            (listed[0].campaign.due.county, listed[0].revision),
            (day("2026-02-20"), 2)
        );
        // The same change again changes nothing.
        update(
            &store,
            "sn",
            &Change {
                due_county: Some(day("2026-02-20")),
                ..Change::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(list(&store).await.unwrap()[0].revision, 2);
    }

    #[tokio::test]
    async fn a_template_change_is_refused_once_a_report_is_held() {
        let (_d, store) = store().await;
        campaigns::create(&store, &campaign(), "local")
            .await
            .unwrap();
        sqlx::query("INSERT INTO reports (org, campaign, version, hash, body, received_at, on_time) VALUES ('H01', 'sn', 1, 'h', '{}', 'now', 1)")
            .execute(&store.pool)
            .await
            .unwrap();
        let e = update(
            &store,
            "sn",
            &Change {
                template: Some(("dangan".into(), None)),
                ..Change::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, Error::Conflict(m) if m.contains("1 report")),
            "{e}"
        );
        assert_eq!(
            campaigns::get(&store, "sn")
                .await
                .unwrap()
                .unwrap()
                .template,
            "songnuan"
        );
    }

    #[tokio::test]
    async fn a_parents_campaign_is_not_changed_here_but_is_by_a_sync() {
        let (_d, store) = store().await;
        assert_eq!(
            store_from_parent(&store, &campaign(), "parent")
                .await
                .unwrap(),
            Applied::New
        );
        let e = update(
            &store,
            "sn",
            &Change {
                title: Some("x".into()),
                ..Change::default()
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)));
        assert_eq!(
            store_from_parent(&store, &campaign(), "parent")
                .await
                .unwrap(),
            Applied::Unchanged
        );
        let mut moved = campaign();
        moved.end = day("2026-01-20");
        assert_eq!(
            store_from_parent(&store, &moved, "parent").await.unwrap(),
            Applied::Updated
        );
        assert_eq!(
            campaigns::get(&store, "sn").await.unwrap().unwrap().end,
            day("2026-01-20")
        );
    }

    #[tokio::test]
    async fn an_end_before_the_start_is_refused() {
        let (_d, store) = store().await;
        campaigns::create(&store, &campaign(), "local")
            .await
            .unwrap();
        let e = update(
            &store,
            "sn",
            &Change {
                end: Some(day("2025-12-01")),
                ..Change::default()
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::BadRequest(_)));
    }
}
