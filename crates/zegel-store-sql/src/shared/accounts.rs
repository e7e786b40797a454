// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`AccountStore`]: organisations, their keys, users and API tokens.

use super::prelude::*;

#[async_trait]
impl AccountStore for DbStore {
    async fn create_org(
        &self,
        org: &Organisation,
        key: &OrgKey,
        key_check: Option<&[u8]>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // A master key rotation takes this row first: the key is stored under the master key
        // that is current, or not at all.
        super::keys::require_key_check(&mut tx, key_check).await?;
        sqlx::query(
            "INSERT INTO organisations (id, slug, name, active_kek_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&org.id)
        .bind(&org.slug)
        .bind(&org.name)
        .bind(&org.active_kek_id)
        .bind(org.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
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
        tx.commit().await
    }

    async fn org_by_id(&self, id: &str) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {ORG_COLS} FROM organisations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::org).transpose()
    }

    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {ORG_COLS} FROM organisations WHERE slug = $1");
        let row = sqlx::query(&sql)
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::org).transpose()
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organisation>> {
        let sql = format!("SELECT {ORG_COLS} FROM organisations ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::org).collect()
    }

    async fn org_key(&self, kek_id: &str) -> StoreResult<Option<OrgKey>> {
        let row = sqlx::query("SELECT id, org_id, wrapped, created_at FROM org_keys WHERE id = $1")
            .bind(kek_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::org_key).transpose()
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, org_id, email, name, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&user.id)
        .bind(&user.org_id)
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // The account's creation is an audit entry (NEN 7513), in the same transaction.
        sqlx::query(
            "INSERT INTO account_events (user_id, kind, at, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(&user.id)
        .bind(zegel_core::signin::AccountEventKind::UserCreated.as_str())
        .bind(user.created_at.0)
        .bind(format!("role {}", user.role.as_str()))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn list_users(&self, org_id: &str) -> StoreResult<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLS} FROM users WHERE org_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .bind(org_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::user).collect()
    }

    async fn create_api_token(&self, token: &NewApiToken) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(&token.token_hash[..])
        .bind(&token.label)
        .bind(token.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // Its audit entry (NEN 7513), in the same transaction: the label, never the token.
        sqlx::query(
            "INSERT INTO account_events (user_id, kind, at, ip, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.user_id)
        .bind(zegel_core::signin::AccountEventKind::TokenCreated.as_str())
        .bind(token.created_at.0)
        .bind(&token.ip)
        .bind(&token.user_agent)
        .bind(&token.label)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn principal_by_token_hash(
        &self,
        hash: &[u8; 32],
        now: Ts,
    ) -> StoreResult<Option<Principal>> {
        let row = sqlx::query(PRINCIPAL_BY_TOKEN_SQL)
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let principal = rows::principal(&row)?;
        let last_used: Option<i64> = row.try_get("last_used_at").map_err(db_err)?;
        let stale_before = now.0 - LAST_USED_RESOLUTION_MS;
        if last_used.is_none_or(|t| t <= stale_before) {
            // Differs per backend: how the `last_used_at` write is committed.
            per_backend::touch_token(self, hash, now, stale_before).await?;
        }
        Ok(Some(principal))
    }
    async fn create_smtp_credential(&self, c: &NewSmtpCredential) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO smtp_credentials (id, user_id, username, password_hash, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.user_id)
        .bind(&c.username)
        .bind(&c.password_hash)
        .bind(&c.label)
        .bind(c.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // Its audit entry (NEN 7513), in the same transaction: the name, never the password.
        let event = zegel_core::signin::AccountEvent {
            user_id: Some(c.user_id.clone()),
            kind: zegel_core::signin::AccountEventKind::SmtpCredentialCreated,
            at: c.created_at,
            ip: c.ip.clone(),
            user_agent: c.user_agent.clone(),
            detail: Some(format!("{} {}", c.username, c.label)),
        };
        super::signin::insert_event(&mut tx, &event).await?;
        tx.commit().await
    }

    async fn smtp_login(&self, username: &str, now: Ts) -> StoreResult<Option<SmtpLogin>> {
        let row = sqlx::query(PRINCIPAL_BY_SMTP_SQL)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let login = SmtpLogin {
            credential_id: row.try_get("c_id").map_err(db_err)?,
            password_hash: row.try_get("c_password_hash").map_err(db_err)?,
            principal: rows::principal(&row)?,
        };
        let last_used: Option<i64> = row.try_get("c_last_used_at").map_err(db_err)?;
        let stale_before = now.0 - LAST_USED_RESOLUTION_MS;
        if last_used.is_none_or(|t| t <= stale_before) {
            let mut tx = self.begin().await?;
            sqlx::query(
                "UPDATE smtp_credentials SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(now.0)
            .bind(&login.credential_id)
            .bind(stale_before)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await?;
        }
        Ok(Some(login))
    }
    async fn revoke_smtp_credential(&self, username: &str, at: Ts) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE smtp_credentials SET revoked_at = $1 \
             WHERE username = $2 AND revoked_at IS NULL RETURNING user_id",
        )
        .bind(at.0)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(user_id) = user_id else {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        };
        let event = zegel_core::signin::AccountEvent {
            user_id: Some(user_id),
            kind: zegel_core::signin::AccountEventKind::SmtpCredentialRevoked,
            at,
            ip: None,
            user_agent: None,
            detail: Some(username.to_owned()),
        };
        super::signin::insert_event(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }
}
