// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! The audit trail (`AuditStore`, see `zegel_core::audit`): chaining the rows writers queued
//! into the hash chains, and reading the chains back.
//!
//! Triggers queue every new `events` and `account_events` row in `audit_pending`, in the
//! statement that wrote it, so an event and its queued entry commit together or not at all.
//! A Zegel connection stages what it queues with its node's name as it queues it (PostgreSQL:
//! the session setting `zegel.node` the queue trigger reads, migration 0016; SQLite: the
//! connection's TEMP trigger, `db::begin_immediate`); a connection outside Zegel queues rows
//! unstaged, which are never chained, so `zegel audit verify` reports their events.
//! [`sequence`] (`AuditStore::audit_sequence`, run by every node's sequencer a few times a
//! second and before every verification) fills in the NEN 7513 fields (the user's name and
//! role, the organisation, the recipient's address) of staged rows, chains them after their
//! chain's head in batches and empties the queue: writers never wait for each other on the
//! chain, and one statement and one commit chain many entries.

use super::prelude::*;
use zegel_core::audit::{
    self, AuditCheckpoint, AuditEntry, AuditFilter, AuditHead, SourceFinding, SOURCE_ACCOUNT,
    SOURCE_EVENT,
};

/// Up to `$1` staged rows with everything an entry needs, in queue order. The actor of a
/// message event is `sender:<user id>`, `recipient:<recipient id>` or `system`.
fn pending_sql() -> String {
    let mine = "p.staged_by IS NOT NULL";
    format!(
        "\
    SELECT p.id AS pid, p.source AS source, p.source_id AS source_id, m.org_id AS chain, \
      e.at AS at, e.kind AS kind, e.actor AS actor, e.ip AS ip, e.detail AS detail, \
      e.message_id AS object, COALESCE(r.email, r.phone) AS recipient, \
      su.id AS u_id, su.name AS u_name, su.email AS u_email, su.role AS u_role, \
      COALESCE(ra.email, ra.phone) AS actor_address, o.name AS org_name, \
      p.staged_by AS node \
    FROM audit_pending p \
    JOIN events e ON p.source = 'event' AND e.id = p.source_id AND {mine} \
    JOIN messages m ON m.id = e.message_id \
    LEFT JOIN organisations o ON o.id = m.org_id \
    LEFT JOIN recipients r ON r.id = e.recipient_id \
    LEFT JOIN users su ON su.id = \
      (CASE WHEN e.actor LIKE 'sender:%' THEN substr(e.actor, 8) END) \
    LEFT JOIN recipients ra ON ra.id = \
      (CASE WHEN e.actor LIKE 'recipient:%' THEN substr(e.actor, 11) END) \
    UNION ALL \
    SELECT p.id, p.source, p.source_id, COALESCE(u.org_id, ''), a.at, a.kind, \
      CASE WHEN a.user_id IS NULL THEN 'system' ELSE 'user' END, a.ip, a.detail, \
      NULL, NULL, a.user_id, u.name, u.email, u.role, NULL, o.name, p.staged_by \
    FROM audit_pending p \
    JOIN account_events a ON p.source = 'account' AND a.id = p.source_id AND {mine} \
    LEFT JOIN users u ON u.id = a.user_id \
    LEFT JOIN organisations o ON o.id = u.org_id \
    ORDER BY 1 LIMIT $1"
    )
}

const ENTRY_COLS: &str = "chain, seq, source, source_id, at, action, outcome, user_id, \
    user_name, user_role, on_behalf_of, recipient, object, node, address, detail, prev_hash, hash";

/// Rows per multi-row insert (18 binds each).
const INSERT_CHUNK: usize = 200;

/// Chains up to `max` staged rows, oldest first, after their chains' heads, and empties them
/// from the queue: the number chained. Runs in its own write transaction; PostgreSQL
/// serialises sequencers (of every node) with an advisory lock, SQLite's write lock already
/// does.
pub(crate) async fn sequence(conn: &mut db::Conn, max: u32) -> StoreResult<u32> {
    db::audit_lock(conn).await?;
    let rows = sqlx::query(&pending_sql())
        .bind(limit(max))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut pids = Vec::with_capacity(rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        pids.push(row.try_get::<i64, _>("pid").map_err(db_err)?);
        entries.push(pending_entry(row)?);
    }
    // Every chain touched continues from its head, read in one statement.
    let mut chains: Vec<String> = entries.iter().map(|e| e.chain.clone()).collect();
    chains.sort();
    chains.dedup();
    let head_rows = sqlx::query(&format!(
        "SELECT chain, seq, hash FROM audit_heads WHERE chain {}",
        db::IN_LIST
    ))
    .bind(db::list(&chains)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut heads: Vec<(String, i64, [u8; 32])> = chains
        .iter()
        .map(|c| (c.clone(), 0, audit::GENESIS))
        .collect();
    for r in &head_rows {
        let chain: String = r.try_get("chain").map_err(db_err)?;
        if let Some(h) = heads.iter_mut().find(|h| h.0 == chain) {
            h.1 = r.try_get::<i64, _>("seq").map_err(db_err)?;
            h.2 = hash32(&r.try_get::<Vec<u8>, _>("hash").map_err(db_err)?)?;
        }
    }
    for e in &mut entries {
        let Some(head) = heads.iter_mut().find(|h| h.0 == e.chain) else {
            continue;
        };
        e.seq = head.1 + 1;
        e.prev_hash = head.2;
        e.hash = audit::entry_hash(e);
        head.1 = e.seq;
        head.2 = e.hash;
    }
    for chunk in entries.chunks(INSERT_CHUNK) {
        insert_entries(conn, chunk).await?;
    }
    for (chain, seq, hash) in heads.iter().filter(|h| h.1 > 0) {
        sqlx::query(
            "INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, $2, $3) \
             ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(chain)
        .bind(seq)
        .bind(&hash[..])
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    for chunk in pids.chunks(1000) {
        // By the key itself, so its index finds the rows (a cast would scan the queue).
        sqlx::query(&format!(
            "DELETE FROM audit_pending WHERE id {}",
            db::IN_LIST
        ))
        .bind(db::list(chunk)?)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(rows.len() as u32)
}

/// An entry (without its place in the chain) from a row of [`pending_sql`].
fn pending_entry(row: &db::DbRow) -> StoreResult<AuditEntry> {
    let get_s = |c: &str| row.try_get::<Option<String>, _>(c).map_err(db_err);
    let source: String = row.try_get("source").map_err(db_err)?;
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let actor: String = row.try_get("actor").map_err(db_err)?;
    let user_label = |name: Option<String>, email: Option<String>| match (name, email) {
        (Some(n), Some(e)) if !n.is_empty() => Some(format!("{n} <{e}>")),
        (_, Some(e)) => Some(e),
        (n, None) => n,
    };
    let (user_id, user_name, user_role) = if actor.starts_with("sender:") || actor == "user" {
        (
            get_s("u_id")?.or_else(|| actor.strip_prefix("sender:").map(str::to_owned)),
            user_label(get_s("u_name")?, get_s("u_email")?),
            get_s("u_role")?,
        )
    } else if actor.starts_with("recipient:") {
        (
            Some(actor.clone()),
            get_s("actor_address")?,
            Some("recipient".to_owned()),
        )
    } else {
        (Some("system".to_owned()), None, Some("system".to_owned()))
    };
    Ok(AuditEntry {
        chain: get_s("chain")?.unwrap_or_default(),
        seq: 0,
        source_id: row.try_get("source_id").map_err(db_err)?,
        at: row.try_get("at").map_err(db_err)?,
        action: audit::action(&source, &kind),
        outcome: audit::outcome(&source, &kind).to_owned(),
        user_id,
        user_name,
        user_role,
        on_behalf_of: get_s("org_name")?,
        recipient: get_s("recipient")?,
        object: get_s("object")?,
        node: get_s("node")?.unwrap_or_default(),
        address: get_s("ip")?,
        detail: get_s("detail")?,
        source,
        prev_hash: audit::GENESIS,
        hash: audit::GENESIS,
    })
}

async fn insert_entries(conn: &mut db::Conn, entries: &[AuditEntry]) -> StoreResult<()> {
    let rows: Vec<String> = (0..entries.len())
        .map(|i| {
            let cols: Vec<String> = (1..=18).map(|c| db::param(i * 18 + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit_log ({ENTRY_COLS}) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for e in entries {
        q = q
            .bind(&e.chain)
            .bind(e.seq)
            .bind(&e.source)
            .bind(e.source_id)
            .bind(e.at)
            .bind(&e.action)
            .bind(&e.outcome)
            .bind(&e.user_id)
            .bind(&e.user_name)
            .bind(&e.user_role)
            .bind(&e.on_behalf_of)
            .bind(&e.recipient)
            .bind(&e.object)
            .bind(&e.node)
            .bind(&e.address)
            .bind(&e.detail)
            .bind(&e.prev_hash[..])
            .bind(&e.hash[..]);
    }
    q.execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

fn hash32(bytes: &[u8]) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Database("unexpected value in column hash".into()))
}

fn entry(row: &db::DbRow) -> StoreResult<AuditEntry> {
    let s = |c: &str| row.try_get::<String, _>(c).map_err(db_err);
    let o = |c: &str| row.try_get::<Option<String>, _>(c).map_err(db_err);
    let i = |c: &str| row.try_get::<i64, _>(c).map_err(db_err);
    let h = |c: &str| hash32(&row.try_get::<Vec<u8>, _>(c).map_err(db_err)?);
    Ok(AuditEntry {
        chain: s("chain")?,
        seq: i("seq")?,
        source: s("source")?,
        source_id: i("source_id")?,
        at: i("at")?,
        action: s("action")?,
        outcome: s("outcome")?,
        user_id: o("user_id")?,
        user_name: o("user_name")?,
        user_role: o("user_role")?,
        on_behalf_of: o("on_behalf_of")?,
        recipient: o("recipient")?,
        object: o("object")?,
        node: s("node")?,
        address: o("address")?,
        detail: o("detail")?,
        prev_hash: h("prev_hash")?,
        hash: h("hash")?,
    })
}

/// A source row without its entry (neither chained nor staged by Zegel and waiting for the
/// sequencer), an entry without its source row, and a source row that differs from its entry, for `source` rows in `table` whose action prefix is `prefix`.
fn findings_sql(source: &str, table: &str, prefix: &str, extra: &str) -> [String; 3] {
    [
        format!(
            "SELECT t.id FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM audit_log a \
             WHERE a.source = '{source}' AND a.source_id = t.id) \
             AND NOT EXISTS (SELECT 1 FROM audit_pending p WHERE p.source = '{source}' \
             AND p.source_id = t.id AND p.staged_by IS NOT NULL) ORDER BY t.id LIMIT 1"
        ),
        format!(
            "SELECT a.chain, a.seq, a.source_id FROM audit_log a WHERE a.source = '{source}' \
             AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = a.source_id) \
             ORDER BY a.chain, a.seq LIMIT 1"
        ),
        format!(
            "SELECT a.chain, a.seq, a.source_id FROM audit_log a JOIN {table} t \
             ON a.source = '{source}' AND t.id = a.source_id \
             WHERE a.at <> t.at OR a.action <> ('{prefix}' || t.kind) \
             OR a.address IS DISTINCT FROM t.ip OR a.detail IS DISTINCT FROM t.detail{extra} \
             ORDER BY a.chain, a.seq LIMIT 1"
        ),
    ]
}

#[async_trait]
impl AuditStore for DbStore {
    async fn audit_sequence(&self, max: u32) -> StoreResult<u32> {
        // Nothing staged (the common case for an idle node): no write transaction.
        let staged: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM audit_pending WHERE staged_by IS NOT NULL)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        if !staged {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let n = sequence(&mut tx, max).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>> {
        let rows = sqlx::query("SELECT chain, seq, hash FROM audit_heads ORDER BY chain")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(AuditHead {
                    chain: r.try_get("chain").map_err(db_err)?,
                    seq: r.try_get("seq").map_err(db_err)?,
                    hash: hash32(&r.try_get::<Vec<u8>, _>("hash").map_err(db_err)?)?,
                })
            })
            .collect()
    }

    async fn audit_entries(
        &self,
        chain: &str,
        after: i64,
        limit_n: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLS} FROM audit_log WHERE chain = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        ))
        .bind(chain)
        .bind(after)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(entry).collect()
    }

    async fn audit_checkpoints(&self, chain: &str) -> StoreResult<Vec<AuditCheckpoint>> {
        let rows = sqlx::query(
            "SELECT chain, seq, hash, signed_at, key_id, signature FROM audit_checkpoints \
             WHERE chain = $1 ORDER BY seq",
        )
        .bind(chain)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(AuditCheckpoint {
                    chain: r.try_get("chain").map_err(db_err)?,
                    seq: r.try_get("seq").map_err(db_err)?,
                    hash: hash32(&r.try_get::<Vec<u8>, _>("hash").map_err(db_err)?)?,
                    signed_at: Ts(r.try_get("signed_at").map_err(db_err)?),
                    key_id: r.try_get("key_id").map_err(db_err)?,
                    signature: r.try_get("signature").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn audit_last_checkpoint(&self, chain: &str) -> StoreResult<Option<(i64, Ts)>> {
        let row = sqlx::query(
            "SELECT seq, signed_at FROM audit_checkpoints WHERE chain = $1 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok((
                r.try_get("seq").map_err(db_err)?,
                Ts(r.try_get("signed_at").map_err(db_err)?),
            ))
        })
        .transpose()
    }

    async fn add_audit_checkpoint(&self, cp: &AuditCheckpoint) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (chain, seq, hash, signed_at, key_id, signature) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, seq) DO NOTHING",
        )
        .bind(&cp.chain)
        .bind(cp.seq)
        .bind(&cp.hash[..])
        .bind(cp.signed_at.0)
        .bind(&cp.key_id)
        .bind(&cp.signature)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn audit_source_findings(&self) -> StoreResult<Option<SourceFinding>> {
        let event = findings_sql(
            SOURCE_EVENT,
            "events",
            "message.",
            " OR a.object IS DISTINCT FROM t.message_id",
        );
        let account = findings_sql(SOURCE_ACCOUNT, "account_events", "account.", "");
        for (source, [unrecorded, removed, changed]) in
            [(SOURCE_EVENT, &event), (SOURCE_ACCOUNT, &account)]
        {
            let found: Option<i64> = sqlx::query_scalar(unrecorded)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
            if let Some(source_id) = found {
                return Ok(Some(SourceFinding::Unrecorded {
                    source: source.to_owned(),
                    source_id,
                }));
            }
            for (sql, removed) in [(removed, true), (changed, false)] {
                let row = sqlx::query(sql)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                if let Some(r) = row {
                    let chain: String = r.try_get("chain").map_err(db_err)?;
                    let seq: i64 = r.try_get("seq").map_err(db_err)?;
                    let source_id: i64 = r.try_get("source_id").map_err(db_err)?;
                    let source = source.to_owned();
                    return Ok(Some(if removed {
                        SourceFinding::Removed {
                            chain,
                            seq,
                            source,
                            source_id,
                        }
                    } else {
                        SourceFinding::Changed {
                            chain,
                            seq,
                            source,
                            source_id,
                        }
                    }));
                }
            }
        }
        Ok(None)
    }

    async fn audit_export_page(
        &self,
        filter: &AuditFilter,
        after: Option<(i64, String, i64)>,
        limit_n: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        // Unused conditions compare with NULL-safe defaults so one statement serves all.
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLS} FROM audit_log \
             WHERE at >= $1 AND at < $2 \
             AND ($3 IS NULL OR lower(recipient) = $3 OR lower(user_name) = $3) \
             AND (at > $4 OR (at = $4 AND (chain > $5 OR (chain = $5 AND seq > $6)))) \
             ORDER BY at, chain, seq LIMIT $7"
        ))
        .bind(filter.from.map_or(i64::MIN, |t| t.0))
        .bind(filter.to.map_or(i64::MAX, |t| t.0))
        .bind(filter.recipient.as_ref().map(|r| r.to_lowercase()))
        .bind(after.as_ref().map_or(i64::MIN, |a| a.0))
        .bind(after.as_ref().map_or(String::new(), |a| a.1.clone()))
        .bind(after.as_ref().map_or(-1, |a| a.2))
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(entry).collect()
    }

    async fn audit_of_message(&self, message_id: &str) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLS} FROM audit_log WHERE object = $1 ORDER BY at, chain, seq"
        ))
        .bind(message_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(entry).collect()
    }
}
