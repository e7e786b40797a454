// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`SignInStore`]: sender accounts (sign-in state, lockouts, the per-address throttle,
//! TOTP, passkeys, WebAuthn ceremonies, set-up links, account events).

use super::prelude::*;
use crate::db::{Conn, Db, DbRow};
use sqlx::{Decode, Type};
use zegel_core::signin::*;

fn get<'r, T>(row: &'r DbRow, col: &str) -> StoreResult<T>
where
    T: Decode<'r, Db> + Type<Db>,
{
    row.try_get(col).map_err(db_err)
}

fn opt_ts(row: &DbRow, col: &str) -> StoreResult<Option<Ts>> {
    Ok(get::<Option<i64>>(row, col)?.map(Ts))
}

fn hash32(row: &DbRow, col: &str) -> StoreResult<[u8; 32]> {
    let v: Vec<u8> = get(row, col)?;
    v.try_into()
        .map_err(|_| StoreError::Database(format!("unexpected value in column {col}")))
}

const ACCOUNT_SQL: &str = "SELECT u.id, u.org_id, u.email, u.name, u.password_hash, u.role, \
     u.created_at, u.failed_sign_ins, u.locked_until, o.second_factor_required, \
     (SELECT COUNT(*) FROM user_totp t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL) \
     AS totp_count, \
     (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id) AS passkey_count \
     FROM users u JOIN organisations o ON o.id = u.org_id";

fn account(row: &DbRow) -> StoreResult<Account> {
    Ok(Account {
        user: rows::user(row)?,
        failed_sign_ins: get(row, "failed_sign_ins")?,
        locked_until: opt_ts(row, "locked_until")?,
        totp_enabled: get::<i64>(row, "totp_count")? > 0,
        passkeys: get(row, "passkey_count")?,
        second_factor_required: get(row, "second_factor_required")?,
    })
}

const TOTP_COLS: &str = "user_id, secret_sealed, created_at, enabled_at, last_step";

fn totp(row: &DbRow) -> StoreResult<TotpRow> {
    Ok(TotpRow {
        user_id: get(row, "user_id")?,
        secret_sealed: get(row, "secret_sealed")?,
        created_at: Ts(get(row, "created_at")?),
        enabled_at: opt_ts(row, "enabled_at")?,
        last_step: get(row, "last_step")?,
    })
}

const PASSKEY_COLS: &str = "id, user_id, credential_id, passkey, name, created_at, last_used_at";

fn passkey(row: &DbRow) -> StoreResult<PasskeyRow> {
    Ok(PasskeyRow {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        credential_id: get(row, "credential_id")?,
        passkey: get(row, "passkey")?,
        name: get(row, "name")?,
        created_at: Ts(get(row, "created_at")?),
        last_used_at: opt_ts(row, "last_used_at")?,
    })
}

const LINK_COLS: &str = "token_hash, user_id, created_at, expires_at, used_at";

fn link(row: &DbRow) -> StoreResult<SetupLinkRow> {
    Ok(SetupLinkRow {
        token_hash: hash32(row, "token_hash")?,
        user_id: get(row, "user_id")?,
        created_at: Ts(get(row, "created_at")?),
        expires_at: Ts(get(row, "expires_at")?),
        used_at: opt_ts(row, "used_at")?,
    })
}

pub(super) async fn insert_event(conn: &mut Conn, e: &AccountEvent) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO account_events (user_id, kind, at, ip, user_agent, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&e.user_id)
    .bind(e.kind.as_str())
    .bind(e.at.0)
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.detail)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_link(conn: &mut Conn, l: &SetupLinkRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO setup_links (token_hash, user_id, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&l.token_hash[..])
    .bind(&l.user_id)
    .bind(l.created_at.0)
    .bind(l.expires_at.0)
    .bind(l.used_at.map(|t| t.0))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl SignInStore for DbStore {
    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let sql = format!("{ACCOUNT_SQL} WHERE u.email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(account).transpose()
    }

    async fn account_by_id(&self, user_id: &str) -> StoreResult<Option<Account>> {
        let sql = format!("{ACCOUNT_SQL} WHERE u.id = $1");
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(account).transpose()
    }

    async fn sign_in_failed(
        &self,
        user_id: &str,
        now: Ts,
        max_failures: i64,
        lock_ms: i64,
        event: &AccountEvent,
    ) -> StoreResult<FailureOutcome> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT failed_sign_ins, locked_until FROM users WHERE id = $1{}",
            db::FOR_UPDATE
        );
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        let failed: i64 = get(&row, "failed_sign_ins")?;
        let locked_until = opt_ts(&row, "locked_until")?;
        if let Some(until) = locked_until.filter(|u| u.0 > now.0) {
            tx.commit().await?;
            return Ok(FailureOutcome::Locked { until });
        }
        insert_event(&mut tx, event).await?;
        let failed = failed + 1;
        let outcome = if failed >= max_failures {
            let until = now.plus_millis(lock_ms);
            sqlx::query("UPDATE users SET failed_sign_ins = 0, locked_until = $2 WHERE id = $1")
                .bind(user_id)
                .bind(until.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let locked = AccountEvent {
                kind: AccountEventKind::Locked,
                detail: None,
                ..event.clone()
            };
            insert_event(&mut tx, &locked).await?;
            FailureOutcome::Locked { until }
        } else {
            sqlx::query("UPDATE users SET failed_sign_ins = $2, locked_until = NULL WHERE id = $1")
                .bind(user_id)
                .bind(failed)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            FailureOutcome::Counted {
                remaining: max_failures - failed,
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn sign_in_succeeded(&self, user_id: &str, event: &AccountEvent) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET failed_sign_ins = 0, locked_until = NULL WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await
    }

    async fn throttle_note(&self, address: &str, now: Ts, window_ms: i64) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        // A window that is over starts again at this failure.
        let row = sqlx::query(
            "INSERT INTO sign_in_throttle (address, window_start, failures) VALUES ($1, $2, 1) \
             ON CONFLICT (address) DO UPDATE SET \
               failures = CASE WHEN sign_in_throttle.window_start <= $3 THEN 1 \
                               ELSE sign_in_throttle.failures + 1 END, \
               window_start = CASE WHEN sign_in_throttle.window_start <= $3 THEN $2 \
                                   ELSE sign_in_throttle.window_start END \
             RETURNING failures",
        )
        .bind(address)
        .bind(now.0)
        .bind(now.0 - window_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let failures: i64 = get(&row, "failures")?;
        tx.commit().await?;
        Ok(failures)
    }

    async fn throttled_until(
        &self,
        address: &str,
        now: Ts,
        window_ms: i64,
        max: i64,
    ) -> StoreResult<Option<Ts>> {
        let row =
            sqlx::query("SELECT window_start, failures FROM sign_in_throttle WHERE address = $1")
                .bind(address)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let start: i64 = get(&row, "window_start")?;
        let failures: i64 = get(&row, "failures")?;
        let end = Ts(start).plus_millis(window_ms);
        Ok((failures >= max && end.0 > now.0).then_some(end))
    }

    async fn throttle_clear(&self, address: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sign_in_throttle WHERE address = $1")
            .bind(address)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }

    async fn set_password_hash(
        &self,
        user_id: &str,
        hash: Option<&str>,
        event: &AccountEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $2, failed_sign_ins = 0, locked_until = NULL \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(hash)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_account_event(&self, event: &AccountEvent) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await
    }

    async fn account_events(&self, user_id: &str) -> StoreResult<Vec<StoredAccountEvent>> {
        let rows = sqlx::query(
            "SELECT id, user_id, kind, at, ip, user_agent, detail FROM account_events \
             WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let kind: String = get(r, "kind")?;
                Ok(StoredAccountEvent {
                    id: get(r, "id")?,
                    event: AccountEvent {
                        user_id: get(r, "user_id")?,
                        kind: AccountEventKind::parse(&kind).ok_or_else(|| {
                            StoreError::Database("unexpected value in column kind".into())
                        })?,
                        at: Ts(get(r, "at")?),
                        ip: get(r, "ip")?,
                        user_agent: get(r, "user_agent")?,
                        detail: get(r, "detail")?,
                    },
                })
            })
            .collect()
    }

    async fn totp_of(&self, user_id: &str) -> StoreResult<Option<TotpRow>> {
        let sql = format!("SELECT {TOTP_COLS} FROM user_totp WHERE user_id = $1");
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(totp).transpose()
    }

    async fn totp_begin(&self, row: &TotpRow) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "INSERT INTO user_totp (user_id, secret_sealed, created_at, enabled_at, last_step) \
             VALUES ($1, $2, $3, NULL, NULL) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
               created_at = excluded.created_at \
             WHERE user_totp.enabled_at IS NULL",
        )
        .bind(&row.user_id)
        .bind(&row.secret_sealed)
        .bind(row.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn totp_enable(
        &self,
        user_id: &str,
        step: i64,
        event: &AccountEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE user_totp SET enabled_at = $2, last_step = $3 \
             WHERE user_id = $1 AND enabled_at IS NULL",
        )
        .bind(user_id)
        .bind(event.at.0)
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn totp_use_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE user_totp SET last_step = $2 \
             WHERE user_id = $1 AND enabled_at IS NOT NULL \
               AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn totp_remove(&self, user_id: &str, event: &AccountEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("DELETE FROM user_totp WHERE user_id = $1 RETURNING enabled_at")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(false);
        };
        if opt_ts(&row, "enabled_at")?.is_some() {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn passkey_add(&self, row: &PasskeyRow, event: &AccountEvent) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, created_at, \
             last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.credential_id)
        .bind(&row.passkey)
        .bind(&row.name)
        .bind(row.created_at.0)
        .bind(row.last_used_at.map(|t| t.0))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await
    }

    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<PasskeyRow>> {
        let sql = format!(
            "SELECT {PASSKEY_COLS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(passkey).collect()
    }

    async fn passkey_by_credential(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRow>> {
        let sql = format!("SELECT {PASSKEY_COLS} FROM passkeys WHERE credential_id = $1");
        let row = sqlx::query(&sql)
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(passkey).transpose()
    }

    async fn passkey_used(&self, id: &str, passkey: &str, at: Ts) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE passkeys SET passkey = $2, last_used_at = $3 WHERE id = $1")
            .bind(id)
            .bind(passkey)
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }

    async fn passkey_remove(
        &self,
        user_id: &str,
        id: &str,
        event: &AccountEvent,
    ) -> StoreResult<bool> {
        delete_owned(
            self,
            "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
            user_id,
            id,
            event,
        )
        .await
    }

    async fn ceremony_put(&self, row: &CeremonyRow) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM webauthn_states WHERE expires_at <= $1")
            .bind(Ts::now().0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO webauthn_states (token_hash, user_id, kind, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.token_hash[..])
        .bind(&row.user_id)
        .bind(row.kind.as_str())
        .bind(&row.state)
        .bind(row.expires_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn ceremony_take(
        &self,
        token_hash: &[u8; 32],
        now: Ts,
    ) -> StoreResult<Option<CeremonyRow>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "DELETE FROM webauthn_states WHERE token_hash = $1 \
             RETURNING token_hash, user_id, kind, state, expires_at",
        )
        .bind(&token_hash[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = get(&row, "kind")?;
        let c = CeremonyRow {
            token_hash: hash32(&row, "token_hash")?,
            user_id: get(&row, "user_id")?,
            kind: CeremonyKind::parse(&kind)
                .ok_or_else(|| StoreError::Database("unexpected value in column kind".into()))?,
            state: get(&row, "state")?,
            expires_at: Ts(get(&row, "expires_at")?),
        };
        Ok((c.expires_at.0 > now.0).then_some(c))
    }

    async fn setup_link_create(&self, row: &SetupLinkRow, event: &AccountEvent) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_link(&mut tx, row).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await
    }

    async fn setup_link(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SetupLinkRow>> {
        let sql = format!("SELECT {LINK_COLS} FROM setup_links WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(link).transpose()
    }

    async fn setup_link_use(
        &self,
        token_hash: &[u8; 32],
        event: &AccountEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "UPDATE setup_links SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        )
        .bind(&token_hash[..])
        .bind(event.at.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(false);
        };
        let user_id: String = get(&row, "user_id")?;
        // The user's other links stop working: one set-up per account at a time.
        sqlx::query(
            "UPDATE setup_links SET expires_at = $2 \
             WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(&user_id)
        .bind(event.at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn reset_account(
        &self,
        user_id: &str,
        link: &SetupLinkRow,
        reset: &AccountEvent,
        issued: &AccountEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM user_totp WHERE user_id = $1",
            "DELETE FROM passkeys WHERE user_id = $1",
            "DELETE FROM webauthn_states WHERE user_id = $1",
            "DELETE FROM setup_links WHERE user_id = $1 AND used_at IS NULL",
            "UPDATE users SET password_hash = NULL, failed_sign_ins = 0, locked_until = NULL \
             WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        insert_link(&mut tx, link).await?;
        insert_event(&mut tx, reset).await?;
        insert_event(&mut tx, issued).await?;
        tx.commit().await
    }

    async fn set_second_factor_required(&self, org_id: &str, required: bool) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE organisations SET second_factor_required = $2 WHERE id = $1")
            .bind(org_id)
            .bind(required)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn api_tokens_of(&self, user_id: &str) -> StoreResult<Vec<ApiTokenInfo>> {
        let rows = sqlx::query(
            "SELECT id, label, created_at, last_used_at FROM api_tokens WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(ApiTokenInfo {
                    id: get(r, "id")?,
                    label: get(r, "label")?,
                    created_at: Ts(get(r, "created_at")?),
                    last_used_at: opt_ts(r, "last_used_at")?,
                })
            })
            .collect()
    }

    async fn api_token_revoke(
        &self,
        user_id: &str,
        id: &str,
        event: &AccountEvent,
    ) -> StoreResult<bool> {
        delete_owned(
            self,
            "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2",
            user_id,
            id,
            event,
        )
        .await
    }
}

/// Deletes one row a user owns (`sql`: `$1` the row id, `$2` the user) and records `event`,
/// in one transaction; false, and nothing recorded, when the user has no such row.
async fn delete_owned(
    store: &DbStore,
    sql: &'static str,
    user_id: &str,
    id: &str,
    event: &AccountEvent,
) -> StoreResult<bool> {
    let mut tx = store.begin().await?;
    let n = sqlx::query(sql)
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    insert_event(&mut tx, event).await?;
    tx.commit().await?;
    Ok(true)
}
