#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod rows;
mod store;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::time::Duration;
use zegel_core::{StoreError, StoreResult};

/// Connections per process.
const MAX_CONNECTIONS: u32 = 10;
/// How long a caller waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL implementation of [`zegel_core::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `postgres://...` (or `postgresql://...`). Does not run migrations: call
    /// [`zegel_core::Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(db_err)?;
        Ok(Self { pool })
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction (READ COMMITTED). Dropping it uncommitted rolls back.
    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_err)
    }
}

/// Maps a sqlx error to a [`StoreError`]: unique violations become `Conflict`, everything else
/// `Database`. Only the server's primary message goes into the text (its `DETAIL`, which can
/// quote values, is left out), so no user data ends up in a log.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.constraint().map_or_else(
                || d.message().to_string(),
                |c| format!("unique constraint {c}"),
            ))
        }
        sqlx::Error::Database(d) => StoreError::Database(format!(
            "postgres {}: {}",
            d.code().unwrap_or_default(),
            d.message()
        )),
        sqlx::Error::RowNotFound => StoreError::NotFound,
        // Connection-level errors carry the URL's host at most, never a password.
        other => StoreError::Database(other.to_string()),
    }
}

/// The `"message_id"` field of a job's JSON payload, if there is one.
pub(crate) fn payload_message_id(payload: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    value.get("message_id")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::payload_message_id;

    #[test]
    fn payload_message_id_reads_the_field_or_nothing() {
        assert_eq!(
            payload_message_id(r#"{"message_id":"m1","recipient_id":"r1"}"#).as_deref(),
            Some("m1")
        );
        assert_eq!(payload_message_id(r#"{"recipient_id":"r1"}"#), None);
        assert_eq!(payload_message_id(r#"{"message_id":7}"#), None);
        assert_eq!(payload_message_id("not json"), None);
    }
}
