//! Lookups by key that every message makes, for many callers in one statement (see
//! [`crate::coalesce`]): what a notification job reads first (its recipient, with the
//! message's metadata, sender and organisation), and what a send or submission reads first
//! (what the organisation remembers of the recipients' addresses).
//!
//! The worker runs the jobs it claims at once, and the gateway's sessions submit at once, so
//! under load dozens of these lookups are in flight together; one statement for all of them
//! saves each its round trip and the server's fixed work per statement (a custom plan, for a
//! lookup of a list). Under light load a batch holds one lookup. They run on the connections
//! that always use generic plans (see [`crate::PgStore`]): a custom plan for each batch cost
//! more than running it.

use crate::coalesce::Batch;
use crate::db::db_err;
use crate::shared::access::access_sql;
use crate::shared::rows;
use crate::shared::sending::address_entry;
use async_trait::async_trait;
use sqlx::postgres::PgPool;
use std::collections::{BTreeSet, HashMap};
use zegel_core::model::{AddressEntry, RecipientAccess};
use zegel_core::StoreResult;
use zegel_store_sql::MSG_META_COLS;

/// Lookups per statement at most.
pub(crate) const MAX_BATCH: usize = 64;

/// Reads recipients by id.
pub(crate) struct Loads {
    pool: PgPool,
    sql: String,
}

impl Loads {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            sql: access_sql(MSG_META_COLS, "r.id = ANY($1)"),
        }
    }
}

#[async_trait]
impl Batch for Loads {
    type Req = String;
    type Resp = Option<RecipientAccess>;

    async fn run(&self, ids: &[&String]) -> StoreResult<Vec<StoreResult<Self::Resp>>> {
        let rows = sqlx::query(&self.sql)
            .bind(ids.iter().map(|id| id.as_str()).collect::<Vec<_>>())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let access = rows::access(row)?;
            found.insert(access.recipient.id.clone(), access);
        }
        Ok(ids.iter().map(|id| Ok(found.get(*id).cloned())).collect())
    }
}

/// The address book's rows for (organisation, address) pairs.
const ADDRESSES_SQL: &str = "SELECT b.org_id, b.address, b.verification, b.phone, \
    b.last_used_at, b.uses FROM address_book b \
    JOIN (SELECT DISTINCT * FROM UNNEST($1::text[], $2::text[])) AS q(org_id, address) \
    ON b.org_id = q.org_id AND b.address = q.address";

/// One caller's lookup: an organisation and the addresses it asks about.
pub(crate) struct AddressQuery {
    pub(crate) org_id: String,
    pub(crate) addresses: Vec<String>,
}

/// Reads the address book.
pub(crate) struct AddressLookups(pub(crate) PgPool);

#[async_trait]
impl Batch for AddressLookups {
    type Req = AddressQuery;
    type Resp = Vec<AddressEntry>;

    async fn run(&self, qs: &[&AddressQuery]) -> StoreResult<Vec<StoreResult<Self::Resp>>> {
        let pairs = || {
            qs.iter()
                .flat_map(|q| q.addresses.iter().map(move |a| (q, a)))
        };
        let rows = sqlx::query(ADDRESSES_SQL)
            .bind(pairs().map(|(q, _)| q.org_id.as_str()).collect::<Vec<_>>())
            .bind(pairs().map(|(_, a)| a.as_str()).collect::<Vec<_>>())
            .fetch_all(&self.0)
            .await
            .map_err(db_err)?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let org_id: String = sqlx::Row::try_get(row, "org_id").map_err(db_err)?;
            let entry = address_entry(row)?;
            found.insert((org_id, entry.address.clone()), entry);
        }
        // Each caller: its own addresses, once each, in address order (as one statement of
        // its own would give them).
        Ok(qs
            .iter()
            .map(|q| {
                let asked: BTreeSet<&String> = q.addresses.iter().collect();
                Ok(asked
                    .into_iter()
                    .filter_map(|a| found.get(&(q.org_id.clone(), a.clone())).cloned())
                    .collect())
            })
            .collect())
    }
}
