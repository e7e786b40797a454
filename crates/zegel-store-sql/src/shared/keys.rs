// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`KeyStore`]: organisation key rotation (re-wrapping message keys, retiring the old key)
//! and master key rotation (re-wrapping what is under the master key). Every swap is a
//! compare-and-swap on the bytes or key id read before, so a concurrent send, revoke or
//! rotation is never overwritten.

use super::prelude::*;
use super::signin::insert_event;
use crate::db::Conn;
use zegel_core::keys::META_KEY_CHECK;
use zegel_core::signin::AccountEvent;

const ORG_KEY_COLS: &str = "id, org_id, wrapped, created_at";

/// The stored master key-check value, locked for the rest of the transaction on PostgreSQL
/// (SQLite's write transaction holds the database already).
async fn key_check_locked(conn: &mut Conn) -> StoreResult<Option<Vec<u8>>> {
    let sql = format!("SELECT value FROM meta WHERE key = $1{}", db::FOR_UPDATE);
    sqlx::query_scalar(&sql)
        .bind(META_KEY_CHECK)
        .fetch_optional(conn)
        .await
        .map_err(db_err)
}

/// Refuses (`MasterKeyChanged`) when the stored key-check value is not `key_check`; the row
/// stays locked for the transaction, so a master key rotation comes wholly before or after.
pub(super) async fn require_key_check(
    conn: &mut Conn,
    key_check: Option<&[u8]>,
) -> StoreResult<()> {
    let Some(expected) = key_check else {
        return Ok(());
    };
    match key_check_locked(conn).await? {
        Some(stored) if stored != expected => Err(StoreError::MasterKeyChanged),
        _ => Ok(()),
    }
}

#[async_trait]
impl KeyStore for DbStore {
    async fn org_keys_of(&self, org_id: &str) -> StoreResult<Vec<OrgKey>> {
        let sql = format!(
            "SELECT {ORG_KEY_COLS} FROM org_keys WHERE org_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(org_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::org_key).collect()
    }

    async fn all_org_keys(&self) -> StoreResult<Vec<OrgKey>> {
        let sql = format!("SELECT {ORG_KEY_COLS} FROM org_keys ORDER BY id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::org_key).collect()
    }

    async fn all_wrapped_signing_keys(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query("SELECT id, wrapped_private FROM signing_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id").map_err(db_err)?,
                    r.try_get("wrapped_private").map_err(db_err)?,
                ))
            })
            .collect()
    }

    async fn begin_org_key_rotation(
        &self,
        key: &OrgKey,
        expected_active: &str,
        key_check: &[u8],
    ) -> StoreResult<RotationStart> {
        let mut tx = self.begin().await?;
        // A master key rotation takes this row first: the new key is wrapped under the master
        // key that is current when it is stored, or not stored at all.
        if key_check_locked(&mut tx).await?.as_deref() != Some(key_check) {
            return Ok(RotationStart::MasterKeyChanged);
        }
        let sql = format!(
            "SELECT active_kek_id FROM organisations WHERE id = $1{}",
            db::FOR_UPDATE
        );
        let active: Option<String> = sqlx::query_scalar(&sql)
            .bind(&key.org_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        match active {
            Some(a) if a == expected_active => {}
            Some(_) => return Ok(RotationStart::ActiveKeyChanged),
            None => return Err(StoreError::NotFound),
        }
        sqlx::query(
            "INSERT INTO org_keys (id, org_id, wrapped, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.wrapped)
        .bind(key.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE organisations SET active_kek_id = $1 WHERE id = $2")
            .bind(&key.id)
            .bind(&key.org_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(RotationStart::Started)
    }

    async fn message_keys_under(&self, kek_id: &str, limit: u32) -> StoreResult<Vec<MessageKey>> {
        let rows = sqlx::query(
            "SELECT message_id, kek_id, wrapped_dek FROM message_keys WHERE kek_id = $1 \
             ORDER BY message_id LIMIT $2",
        )
        .bind(kek_id)
        .bind(super::limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(rows::message_key).collect()
    }

    async fn rewrap_message_keys(
        &self,
        from_kek_id: &str,
        keys: &[MessageKey],
    ) -> StoreResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        // Row locks in one fixed order (message id, as the batch was read), so that two
        // rotations of the same rows cannot deadlock each other.
        let mut keys: Vec<&MessageKey> = keys.iter().collect();
        keys.sort_by(|a, b| a.message_id.cmp(&b.message_id));
        let mut tx = self.begin().await?;
        let mut changed = 0;
        for k in keys {
            changed += sqlx::query(
                "UPDATE message_keys SET kek_id = $1, wrapped_dek = $2 \
                 WHERE message_id = $3 AND kek_id = $4",
            )
            .bind(&k.kek_id)
            .bind(&k.wrapped_dek)
            .bind(&k.message_id)
            .bind(from_kek_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn retire_org_key(
        &self,
        kek_id: &str,
        event: &AccountEvent,
    ) -> StoreResult<RetireOutcome> {
        let mut tx = self.begin().await?;
        // On PostgreSQL the row lock waits for every transaction that is storing a message key
        // under this key (its foreign key check holds a share lock on the row), so the count
        // below sees their rows; later ones wait for this transaction and then fail their
        // foreign key check.
        let sql = format!(
            "SELECT org_id FROM org_keys WHERE id = $1{}",
            db::FOR_UPDATE
        );
        let org_id: Option<String> = sqlx::query_scalar(&sql)
            .bind(kek_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(org_id) = org_id else {
            return Ok(RetireOutcome::Missing);
        };
        let active: Option<String> =
            sqlx::query_scalar("SELECT active_kek_id FROM organisations WHERE id = $1")
                .bind(&org_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if active.as_deref() == Some(kek_id) {
            return Ok(RetireOutcome::Active);
        }
        let in_use: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_keys WHERE kek_id = $1")
            .bind(kek_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if in_use > 0 {
            return Ok(RetireOutcome::InUse {
                message_keys: in_use,
            });
        }
        sqlx::query("DELETE FROM org_keys WHERE id = $1")
            .bind(kek_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(RetireOutcome::Retired)
    }

    async fn rotate_master(
        &self,
        r: &MasterRotation,
        event: &AccountEvent,
    ) -> StoreResult<MasterRotationOutcome> {
        let mut tx = self.begin().await?;
        if key_check_locked(&mut tx).await?.as_deref() != Some(r.old_key_check.as_slice()) {
            return Ok(MasterRotationOutcome::KeyCheckChanged);
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_keys")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if usize::try_from(count).ok() != Some(r.org_keys.len()) {
            return Ok(MasterRotationOutcome::OrgKeysChanged);
        }
        for k in &r.org_keys {
            let swapped =
                sqlx::query("UPDATE org_keys SET wrapped = $1 WHERE id = $2 AND wrapped = $3")
                    .bind(&k.new)
                    .bind(&k.id)
                    .bind(&k.old)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
            if swapped != 1 {
                // Dropping the transaction rolls back the keys swapped so far.
                return Ok(MasterRotationOutcome::OrgKeysChanged);
            }
        }
        let signing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if usize::try_from(signing).ok() != Some(r.signing_keys.len()) {
            return Ok(MasterRotationOutcome::OrgKeysChanged);
        }
        for k in &r.signing_keys {
            let swapped = sqlx::query(
                "UPDATE signing_keys SET wrapped_private = $1 \
                 WHERE id = $2 AND wrapped_private = $3",
            )
            .bind(&k.new)
            .bind(&k.id)
            .bind(&k.old)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if swapped != 1 {
                return Ok(MasterRotationOutcome::OrgKeysChanged);
            }
        }
        for (key, value) in &r.meta {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
            .bind(&r.new_key_check)
            .bind(META_KEY_CHECK)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(MasterRotationOutcome::Rotated)
    }
}
