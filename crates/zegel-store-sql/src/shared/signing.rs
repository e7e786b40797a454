// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`SigningStore`]: organisation signing keys (migration 0010_signing).

use super::prelude::*;
use zegel_core::signin::{AccountEvent, AccountEventKind};
use zegel_core::signing::{PublicSigningKey, SigningKeyRow, SigningStore};

const KEY_COLS: &str = "id, org_id, public_key, wrapped_private, created_at, retired_at";
const PUBLIC_COLS: &str = "id, org_id, public_key, created_at, retired_at";

fn key_row(row: &db::DbRow) -> StoreResult<SigningKeyRow> {
    Ok(SigningKeyRow {
        id: row.try_get("id").map_err(db_err)?,
        org_id: row.try_get("org_id").map_err(db_err)?,
        public_key: row.try_get("public_key").map_err(db_err)?,
        wrapped_private: row.try_get("wrapped_private").map_err(db_err)?,
        created_at: Ts(row.try_get("created_at").map_err(db_err)?),
        retired_at: row
            .try_get::<Option<i64>, _>("retired_at")
            .map_err(db_err)?
            .map(Ts),
    })
}

fn public_row(row: &db::DbRow) -> StoreResult<PublicSigningKey> {
    Ok(PublicSigningKey {
        id: row.try_get("id").map_err(db_err)?,
        org_id: row.try_get("org_id").map_err(db_err)?,
        public_key: row.try_get("public_key").map_err(db_err)?,
        created_at: Ts(row.try_get("created_at").map_err(db_err)?),
        retired_at: row
            .try_get::<Option<i64>, _>("retired_at")
            .map_err(db_err)?
            .map(Ts),
    })
}

#[async_trait]
impl SigningStore for DbStore {
    async fn current_signing_key(&self, org_id: &str) -> StoreResult<Option<SigningKeyRow>> {
        let sql =
            format!("SELECT {KEY_COLS} FROM signing_keys WHERE org_id = $1 AND retired_at IS NULL");
        let row = sqlx::query(&sql)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(key_row).transpose()
    }

    async fn insert_signing_key(
        &self,
        key: &SigningKeyRow,
        key_check: Option<&[u8]>,
    ) -> StoreResult<SigningKeyRow> {
        let mut tx = self.begin().await?;
        super::keys::require_key_check(&mut tx, key_check).await?;
        // No conflict target: the conflict that matters is on the partial unique index
        // `signing_keys_current` (one current key per organisation). PostgreSQL waits for a
        // concurrent insert of the same organisation to commit and then does nothing; the
        // next statement sees that row.
        let inserted = sqlx::query(
            "INSERT INTO signing_keys (id, org_id, public_key, wrapped_private, created_at, \
             retired_at) VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING",
        )
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.public_key)
        .bind(&key.wrapped_private)
        .bind(key.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if inserted.rows_affected() == 1 {
            // A key made is an audit entry (NTA 7516: key management), in the same transaction.
            let detail = serde_json::json!({"org_id": key.org_id, "key_id": key.id});
            super::signin::insert_event(
                &mut tx,
                &AccountEvent {
                    user_id: None,
                    kind: AccountEventKind::SigningKeyCreated,
                    at: key.created_at,
                    ip: None,
                    user_agent: None,
                    detail: Some(detail.to_string()),
                },
            )
            .await?;
        }
        let sql =
            format!("SELECT {KEY_COLS} FROM signing_keys WHERE org_id = $1 AND retired_at IS NULL");
        let row = sqlx::query(&sql)
            .bind(&key.org_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        key_row(&row)
    }

    async fn signing_keys_of(&self, org_id: &str) -> StoreResult<Vec<PublicSigningKey>> {
        let sql = format!(
            "SELECT {PUBLIC_COLS} FROM signing_keys WHERE org_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(org_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(public_row).collect()
    }

    async fn public_signing_key(&self, id: &str) -> StoreResult<Option<PublicSigningKey>> {
        let sql = format!("SELECT {PUBLIC_COLS} FROM signing_keys WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(public_row).transpose()
    }
}
