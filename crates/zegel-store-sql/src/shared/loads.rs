// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! Lookups by key that every message makes, for many callers in one statement (see
//! [`super::coalesce`]): what a notification job reads first (its recipient, with the
//! message's metadata, sender and organisation), and what a send or submission reads first
//! (what the organisation remembers of the recipients' addresses).
//!
//! The worker runs the jobs it claims at once, and the gateway's sessions submit at once, so
//! under load dozens of these lookups are in flight together; one statement for all of them
//! saves each its round trip (on SQLite, its hand-off to a connection's thread and back) and
//! the server's fixed work per statement (on PostgreSQL, a custom plan for a lookup of a
//! list). Under light load a batch holds one lookup. PostgreSQL runs them on the connections
//! that always use generic plans (see `PgStore`): a custom plan for each batch cost more than
//! running it.

use super::access::access_sql;
use super::coalesce::{Batch, Coalescer};
use super::rows;
use crate::db::{self, db_err, Db};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use zegel_core::model::{AddressEntry, RecipientAccess};
use zegel_core::StoreResult;
use zegel_store_sql::MSG_META_COLS;

/// Lookups per statement at most.
const MAX_BATCH: usize = 64;

/// The batching tasks of both lookups, on one pool (a clone hands to the same tasks).
#[derive(Clone)]
pub(crate) struct Lookups {
    recipients: Coalescer<Loads>,
    addresses: Coalescer<AddressLookups>,
}

impl Lookups {
    /// Starts the tasks; they end when the store is dropped.
    pub(crate) fn start(pool: sqlx::Pool<Db>) -> Self {
        Self {
            recipients: Coalescer::start(Loads::new(pool.clone()), MAX_BATCH),
            addresses: Coalescer::start(AddressLookups::new(pool), MAX_BATCH),
        }
    }

    /// A recipient with its message's metadata, sender and organisation.
    pub(crate) async fn recipient(&self, id: &str) -> StoreResult<Option<RecipientAccess>> {
        self.recipients.submit(id.to_owned()).await
    }

    /// What the organisation remembers of `addresses`, by address.
    pub(crate) async fn address_book(
        &self,
        org_id: &str,
        addresses: &[String],
    ) -> StoreResult<Vec<AddressEntry>> {
        self.addresses
            .submit(AddressQuery {
                org_id: org_id.to_owned(),
                addresses: addresses.to_vec(),
            })
            .await
    }
}

/// Reads recipients by id.
struct Loads {
    pool: sqlx::Pool<Db>,
    sql: String,
}

impl Loads {
    fn new(pool: sqlx::Pool<Db>) -> Self {
        Self {
            pool,
            sql: access_sql(MSG_META_COLS, &format!("r.id {}", db::IN_LIST)),
        }
    }
}

#[async_trait]
impl Batch for Loads {
    type Req = String;
    type Resp = Option<RecipientAccess>;

    async fn run(&self, ids: &[&String]) -> StoreResult<Vec<StoreResult<Self::Resp>>> {
        let asked: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        let rows = sqlx::query(&self.sql)
            .bind(db::list(&asked)?)
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

/// One caller's lookup: an organisation and the addresses it asks about.
struct AddressQuery {
    org_id: String,
    addresses: Vec<String>,
}

/// Reads the address book: one statement for each organisation in the batch (an
/// installation usually has one).
struct AddressLookups {
    pool: sqlx::Pool<Db>,
    sql: String,
}

impl AddressLookups {
    fn new(pool: sqlx::Pool<Db>) -> Self {
        Self {
            pool,
            sql: format!(
                "SELECT address, verification, phone, last_used_at, uses FROM address_book \
                 WHERE address {} AND org_id = $2",
                db::IN_LIST
            ),
        }
    }
}

#[async_trait]
impl Batch for AddressLookups {
    type Req = AddressQuery;
    type Resp = Vec<AddressEntry>;

    async fn run(&self, qs: &[&AddressQuery]) -> StoreResult<Vec<StoreResult<Self::Resp>>> {
        let mut by_org: BTreeMap<&str, BTreeSet<&String>> = BTreeMap::new();
        for q in qs {
            by_org.entry(&q.org_id).or_default().extend(&q.addresses);
        }
        let mut found: HashMap<&str, HashMap<String, AddressEntry>> = HashMap::new();
        for (org_id, addresses) in by_org {
            let addresses: Vec<&str> = addresses.into_iter().map(String::as_str).collect();
            let rows = sqlx::query(&self.sql)
                .bind(db::list(&addresses)?)
                .bind(org_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
            let known = found.entry(org_id).or_default();
            for row in &rows {
                let entry = rows::address_entry(row)?;
                known.insert(entry.address.clone(), entry);
            }
        }
        // Each caller: its own addresses, once each, in address order (as one statement of
        // its own would give them).
        Ok(qs
            .iter()
            .map(|q| {
                let asked: BTreeSet<&String> = q.addresses.iter().collect();
                let known = found.get(q.org_id.as_str());
                Ok(asked
                    .into_iter()
                    .filter_map(|a| known?.get(a).cloned())
                    .collect())
            })
            .collect())
    }
}
