// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`PolicyStore`]: organisation policy and logo.

use super::prelude::*;

#[async_trait]
impl PolicyStore for DbStore {
    async fn org_policy(&self, org_id: &str) -> StoreResult<Option<OrgPolicy>> {
        let sql = format!("SELECT {POLICY_COLS} FROM organisations o WHERE o.id = $1");
        let row = sqlx::query(&sql)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::org_policy).transpose()
    }

    async fn set_org_policy(
        &self,
        org_id: &str,
        p: &OrgPolicy,
        event: &zegel_core::signin::AccountEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE organisations SET reply_default = $1, reply_locked = $2, \
             forward_allowed = $3, device_days = $4, contact = $5, sms_per_day = $6, \
             sms_countries = $7, default_availability_days = $8, max_availability_days = $9 \
             WHERE id = $10",
        )
        .bind(p.reply_default.as_str())
        .bind(p.reply_locked)
        .bind(p.forward_allowed)
        .bind(p.device_days)
        .bind(&p.contact)
        .bind(p.sms_per_day)
        .bind(rows::countries_text(&p.sms_countries))
        .bind(p.default_availability_days)
        .bind(p.max_availability_days)
        .bind(org_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        // The change and its account event (an audit entry) commit together.
        super::signin::insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn org_logo(&self, org_id: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
        let row = sqlx::query(
            "SELECT logo, logo_type FROM organisations \
             WHERE id = $1 AND logo IS NOT NULL AND logo_type IS NOT NULL",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => Ok(Some((
                r.try_get("logo").map_err(db_err)?,
                r.try_get("logo_type").map_err(db_err)?,
            ))),
            None => Ok(None),
        }
    }

    async fn set_org_logo(&self, org_id: &str, logo: Option<(&[u8], &str)>) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE organisations SET logo = $1, logo_type = $2 WHERE id = $3")
            .bind(logo.map(|(b, _)| b))
            .bind(logo.map(|(_, t)| t))
            .bind(org_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn sms_usage(&self, day: i64) -> StoreResult<Vec<SmsUsage>> {
        let rows = sqlx::query(
            "SELECT o.slug, o.sms_per_day, COALESCE(u.sent, 0) AS sent, \
             COALESCE(u.refused, 0) AS refused FROM organisations o \
             LEFT JOIN sms_usage u ON u.org_id = o.id AND u.day = $1 ORDER BY o.slug",
        )
        .bind(day)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(rows::sms_usage).collect()
    }
}
