// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`MailStore`]: an organisation's own mail domains, direct deliveries and mail received
//! from another provider (NTA 7516, migration 0015_nta).

use super::prelude::*;
use zegel_core::mail_store::{DomainAdded, MailStore, NewReceivedMail};
use zegel_core::signin::AccountEvent;

#[async_trait]
impl MailStore for DbStore {
    async fn add_org_domain(
        &self,
        org_id: &str,
        domain: &str,
        event: &AccountEvent,
    ) -> StoreResult<DomainAdded> {
        let mut tx = self.begin().await?;
        let added = sqlx::query(
            "INSERT INTO org_domains (domain, org_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (domain) DO NOTHING",
        )
        .bind(domain)
        .bind(org_id)
        .bind(event.at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if added == 0 {
            let owner: Option<String> =
                sqlx::query_scalar("SELECT org_id FROM org_domains WHERE domain = $1")
                    .bind(domain)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            tx.rollback().await.map_err(db_err)?;
            return Ok(if owner.as_deref() == Some(org_id) {
                DomainAdded::Already
            } else {
                DomainAdded::OtherOrganisation
            });
        }
        super::signin::insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(DomainAdded::Added)
    }

    async fn remove_org_domain(
        &self,
        org_id: &str,
        domain: &str,
        event: &AccountEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let removed = sqlx::query("DELETE FROM org_domains WHERE domain = $1 AND org_id = $2")
            .bind(domain)
            .bind(org_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if removed == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        super::signin::insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn org_domains(&self, org_id: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT domain FROM org_domains WHERE org_id = $1 ORDER BY domain")
            .bind(org_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn org_of_domain(&self, domain: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT org_id FROM org_domains WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn mark_delivered_direct(
        &self,
        recipient_id: &str,
        event: &NewEvent,
        job: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE recipients SET direct_at = $2, notified_at = COALESCE(notified_at, $2), \
             status = CASE WHEN status = 'queued' THEN 'notified' ELSE status END \
             WHERE id = $1",
        )
        .bind(recipient_id)
        .bind(event.at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::NotFound);
        }
        insert_event(&mut tx, event).await?;
        sqlx::query(DELETE_JOB_SQL)
            .bind(job)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(())
    }

    async fn smtp_credentials_of(&self, user_id: &str) -> StoreResult<Vec<SmtpCredentialInfo>> {
        let rows = sqlx::query(
            "SELECT id, username, label, created_at, last_used_at FROM smtp_credentials \
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(SmtpCredentialInfo {
                    id: r.try_get("id").map_err(db_err)?,
                    username: r.try_get("username").map_err(db_err)?,
                    label: r.try_get("label").map_err(db_err)?,
                    created_at: Ts(r.try_get("created_at").map_err(db_err)?),
                    last_used_at: r
                        .try_get::<Option<i64>, _>("last_used_at")
                        .map_err(db_err)?
                        .map(Ts),
                })
            })
            .collect()
    }

    async fn insert_received_mail(&self, m: &NewReceivedMail) -> StoreResult<()> {
        if m.message.from_address.is_none() || m.message.parent_id.is_some() {
            return Err(StoreError::Database(
                "received mail needs from_address and no parent".into(),
            ));
        }
        let mut tx = self.begin().await?;
        insert_message_row(&mut tx, &m.message).await?;
        insert_message_key(&mut tx, &m.key).await?;
        for a in &m.attachments {
            insert_attachment(&mut tx, a).await?;
        }
        insert_event(&mut tx, &m.event).await?;
        insert_job(&mut tx, &m.job, Some(&m.message.id)).await?;
        tx.commit().await?;
        Ok(())
    }
}
