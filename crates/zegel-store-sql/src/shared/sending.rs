// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`SendingStore`]: the organisation's address book, held messages and read receipts
//! (issue 13), and the writes a new message's [`SendOptions`] add to its transaction.

use super::prelude::*;
use crate::db::Conn;

/// One use of an address: a new entry, or the last method, number and time plus one use.
/// Concurrent senders to one address each count (the row is updated in place); the latest
/// time wins, also for the method and number (a send that commits late but was made earlier
/// does not overwrite a newer one's).
const UPSERT_ADDRESS_SQL: &str = "INSERT INTO address_book \
     (org_id, address, verification, phone, last_used_at, uses) VALUES ($1, $2, $3, $4, $5, 1) \
     ON CONFLICT (org_id, address) DO UPDATE SET \
     verification = CASE WHEN excluded.last_used_at >= address_book.last_used_at \
     THEN excluded.verification ELSE address_book.verification END, \
     phone = CASE WHEN excluded.last_used_at >= address_book.last_used_at \
     THEN excluded.phone ELSE address_book.phone END, uses = address_book.uses + 1, \
     last_used_at = CASE WHEN excluded.last_used_at > address_book.last_used_at \
     THEN excluded.last_used_at ELSE address_book.last_used_at END";

fn bind_address<'q, B: Binds<'q>>(q: B, u: &'q AddressUse) -> B {
    q.bind(&u.org_id)
        .bind(&u.address)
        .bind(u.verification.as_str())
        .bind(&u.phone)
        .bind(u.at.0)
}

/// Records one use of an address, inside the caller's transaction.
pub(crate) async fn upsert_address(conn: &mut Conn, u: &AddressUse) -> StoreResult<()> {
    bind_address(sqlx::query(UPSERT_ADDRESS_SQL), u)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

const SEND_OPTIONS_SQL: &str =
    "UPDATE messages SET hold_expiry_ms = $2, read_receipt = $3 WHERE id = $1";

fn bind_send_options<'q, B: Binds<'q>>(q: B, m: &'q NewMessage) -> B {
    q.bind(&m.message.id)
        .bind(m.sending.hold.map(|h| h.expiry_ms))
        .bind(m.sending.read_receipt)
}

/// The writes of a new message's [`SendOptions`] (its hold, its read receipt flag, its
/// address book), added to the statements that insert its rows. Nothing for the default.
// Used by SQLite's insert; PostgreSQL writes the same in its batched statement (inserts.rs).
#[allow(dead_code)]
pub(crate) fn send_options_statements<'q, S: Statements<'q>>(mut q: S, m: &'q NewMessage) -> S {
    if m.sending.read_receipt || m.sending.hold.is_some() {
        q = bind_send_options(q.statement(SEND_OPTIONS_SQL), m);
    }
    for u in &m.sending.address_book {
        q = bind_address(q.statement(UPSERT_ADDRESS_SQL), u);
    }
    q
}

#[async_trait]
impl SendingStore for DbStore {
    async fn address_book(
        &self,
        org_id: &str,
        addresses: &[String],
    ) -> StoreResult<Vec<AddressEntry>> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        // Every send and submission asks it first: many in one statement (`loads.rs`).
        self.lookups.address_book(org_id, addresses).await
    }

    async fn recent_addresses(&self, org_id: &str, limit_n: u32) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT address FROM address_book WHERE org_id = $1 \
             ORDER BY last_used_at DESC, address LIMIT $2",
        )
        .bind(org_id)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn held_message(&self, message_id: &str) -> StoreResult<Option<HeldMessage>> {
        let row = sqlx::query(
            "SELECT id, sender_id, state, expires_at FROM messages \
             WHERE id = $1 AND hold_expiry_ms IS NOT NULL",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: String = row.try_get("state").map_err(db_err)?;
        Ok(Some(HeldMessage {
            id: row.try_get("id").map_err(db_err)?,
            sender_id: row.try_get("sender_id").map_err(db_err)?,
            state: MessageState::parse(&state)
                .ok_or_else(|| StoreError::Database("unexpected value in column state".into()))?,
            expires_at: Ts(row.try_get("expires_at").map_err(db_err)?),
        }))
    }

    async fn release_held(&self, r: &Release) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // The message row first: a concurrent release, cancel or expiry waits for this one
        // (PostgreSQL's row lock; SQLite's `BEGIN IMMEDIATE`), then finds it released.
        let done = sqlx::query(
            "UPDATE messages SET expires_at = $3 + hold_expiry_ms, hold_expiry_ms = NULL \
             WHERE id = $1 AND sender_id = $2 AND hold_expiry_ms IS NOT NULL \
             AND state = 'active' AND expires_at > $3",
        )
        .bind(&r.message_id)
        .bind(&r.sender_id)
        .bind(r.now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        sqlx::query("UPDATE jobs SET run_at = $2 WHERE message_id = $1 AND dead = FALSE")
            .bind(&r.message_id)
            .bind(r.now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for e in &r.events {
            insert_event(&mut tx, e).await?;
        }
        for u in &r.address_book {
            upsert_address(&mut tx, u).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn queue_read_receipt(
        &self,
        recipient_id: &str,
        job: &NewJob,
        now: Ts,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let message_id: Option<String> = sqlx::query_scalar(
            "UPDATE recipients SET receipt_queued_at = $2 \
             WHERE id = $1 AND receipt_queued_at IS NULL AND EXISTS (SELECT 1 FROM messages m \
             WHERE m.id = recipients.message_id AND m.read_receipt = TRUE \
             AND m.state = 'active') RETURNING message_id",
        )
        .bind(recipient_id)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(message_id) = message_id else {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        };
        insert_job(&mut tx, job, Some(&message_id)).await?;
        tx.commit().await?;
        Ok(true)
    }
}
