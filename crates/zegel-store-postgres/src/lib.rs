#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod db;
mod inserts;
mod marks;
mod per_backend;
#[path = "../../zegel-store-sql/src/shared/mod.rs"]
mod shared;
mod statistics;

use db::db_err;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use zegel_core::StoreResult;

/// Connections per process.
const MAX_CONNECTIONS: u32 = 16;
/// Connections per process for job bookkeeping.
const RELAXED_CONNECTIONS: u32 = 8;
/// How long a caller waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL implementation of [`zegel_core::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections with `synchronous_commit = off`, for job bookkeeping only (claims,
    /// completions, retries, a notification's status and event, a token's last use): such a
    /// commit returns before the WAL flush. A server crash can lose only the last such
    /// commits (never corrupt anything, and never a durable commit made after them); a Zegel
    /// crash loses nothing. Losing bookkeeping means at most a notification sent again with
    /// the same Message-ID, which delivery is built for (at-least-once), as Postfix does not
    /// sync the removal of a delivered queue file either.
    ///
    /// These connections also always use generic plans (`plan_cache_mode`), so the batched
    /// lookups by key ([`shared::loads`]) run here too. Their few statements look rows up by
    /// key or walk `jobs_due` in order, whatever the parameters, but a custom plan was chosen
    /// for each call of a batched statement (its arrays' lengths make each custom plan look
    /// cheaper): planning a notification mark cost about half as much as running it, and a
    /// batch of recipient lookups more than running it. The claim's custom plan also sorted a
    /// bitmap scan instead of reading the index in order, so it never marked finished jobs'
    /// entries dead.
    relaxed: PgPool,
    /// Inserts new messages in batches on `pool`.
    inserter: shared::coalesce::Coalescer<inserts::Inserts>,
    /// Writes notification marks in batches on `relaxed`.
    marker: shared::coalesce::Coalescer<marks::Marks>,
    /// The address-book and notification-recipient lookups, in batches on `relaxed`.
    lookups: shared::loads::Lookups,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// Pool settings. No test query on every acquire (it doubled the round trips of a send): a
/// connection the server dropped fails its next query instead, and the pool replaces it.
/// Every connection says which node it belongs to (`zegel.node`): the audit queue's trigger
/// stages the rows a Zegel session queues with it (migration 0016); a session without it,
/// outside Zegel, queues rows that are never chained.
fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("SELECT set_config('zegel.node', $1, false)")
                    .bind(zegel_core::audit::node_name())
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        })
}

impl PgStore {
    /// Connects to `postgres://...` (or `postgresql://...`). Does not run migrations: call
    /// [`zegel_core::store::MetaStore::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let opts = PgConnectOptions::from_str(url).map_err(db_err)?;
        let pool = pool_options(MAX_CONNECTIONS)
            .connect_with(opts.clone())
            .await
            .map_err(db_err)?;
        let relaxed = pool_options(RELAXED_CONNECTIONS)
            .connect_with(opts.options([
                ("synchronous_commit", "off"),
                ("plan_cache_mode", "force_generic_plan"),
            ]))
            .await
            .map_err(db_err)?;
        let marker =
            shared::coalesce::Coalescer::start(marks::Marks(relaxed.clone()), marks::MAX_BATCH);
        let inserter =
            shared::coalesce::Coalescer::start(inserts::Inserts(pool.clone()), inserts::MAX_BATCH);
        let lookups = shared::loads::Lookups::start(relaxed.clone());
        statistics::start(pool.clone());
        Ok(Self {
            pool,
            relaxed,
            inserter,
            marker,
            lookups,
        })
    }

    /// Closes the pools (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.relaxed.close().await;
        self.pool.close().await;
    }
}
