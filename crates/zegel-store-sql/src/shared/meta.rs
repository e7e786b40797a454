// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`MetaStore`]: the server itself and its metadata.

use super::prelude::*;

#[async_trait]
impl MetaStore for DbStore {
    fn backend(&self) -> &'static str {
        db::BACKEND
    }

    async fn migrate(&self) -> StoreResult<()> {
        // The stamping crate's own `migrations/` folder (relative to its manifest).
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration: {e}")))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn meta_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn meta_init(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(stored)
    }
}
