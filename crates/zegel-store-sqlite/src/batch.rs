//! Group commit: the hot writes (new messages, job claims, completions and retries) of many
//! callers share one `BEGIN IMMEDIATE` transaction and one fsync.
//!
//! SQLite has one writer at a time, and every commit with `synchronous=FULL` waits for the
//! disk. One transaction per API call makes the commit (and the hand-offs to SQLite's thread
//! for `BEGIN`, each statement and `COMMIT`) a queue that every caller waits in. Here one task
//! takes whatever writes are waiting (up to [`MAX_BATCH`]), runs them in one transaction,
//! commits once, and then answers every caller. A caller hears "done" only after that commit
//! is on disk; if the commit fails, every caller in the batch gets the error and nothing of
//! the batch is kept.
//!
//! A write that fails must leave nothing behind and must not take the others down. Writes
//! rarely fail, so a batch first runs without savepoints; if one write fails, the batch is
//! rolled back and run again with each write in its own `SAVEPOINT`, so the failing one is
//! undone alone and gets its own error. That is why a write is a closure that can run twice.

use crate::db::db_err;
use crate::WriteTurn;
use futures::future::BoxFuture;
use sqlx::sqlite::SqlitePool;
use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};
use zegel_core::{StoreError, StoreResult};

/// Writes per transaction at most.
const MAX_BATCH: usize = 64;

/// One caller's write, waiting in a batch.
trait Write: Send {
    /// Runs the write on the batch's connection and keeps its result; true when it succeeded.
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool>;
    /// Answers the caller: its own result if the batch committed (`None`), else the error
    /// that undid the batch.
    fn answer(self: Box<Self>, undone: Option<StoreError>);
}

struct Pending<T, F> {
    f: F,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send + 'static,
    F: for<'c> Fn(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let result = (self.f)(conn).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn answer(self: Box<Self>, undone: Option<StoreError>) {
        let result = match (undone, self.result) {
            (Some(e), _) => Err(e),
            (None, Some(result)) => result,
            (None, None) => Err(not_written()),
        };
        let _ = self.reply.send(result);
    }
}

type Op = Box<dyn Write>;

/// Hands writes to the batching task.
#[derive(Clone)]
pub(crate) struct Batcher {
    ops: mpsc::UnboundedSender<Op>,
}

impl Batcher {
    /// Starts the task that commits batches on `pool` (durable connections), taking the
    /// process's write turn for each batch.
    pub(crate) fn start(pool: SqlitePool, turn: WriteTurn) -> Batcher {
        let (ops, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_batches(pool, turn, rx));
        Batcher { ops }
    }

    /// Runs `f` inside the next batch and returns its result once the batch is committed.
    /// `f` may run twice (see the module documentation): it must only run SQL.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let (reply, answered) = oneshot::channel();
        let op: Op = Box::new(Pending {
            f,
            result: None,
            reply,
        });
        self.ops.send(op).map_err(|_| stopped())?;
        answered.await.map_err(|_| not_written())?
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the SQLite writer has stopped".into())
}

fn not_written() -> StoreError {
    StoreError::Database("the write was not carried out".into())
}

async fn run_batches(pool: SqlitePool, turn: WriteTurn, mut rx: mpsc::UnboundedReceiver<Op>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut ops = std::mem::take(&mut batch);
        let undone = run_batch(pool.clone(), turn.clone(), &mut ops).await;
        for op in ops {
            op.answer(undone.clone());
        }
    }
}

/// Runs one batch under the write turn: first all writes in one go; if one fails, again with
/// a savepoint each. Returns the error that undid the whole batch, if any.
fn run_batch<'a>(
    pool: SqlitePool,
    turn: WriteTurn,
    ops: &'a mut [Op],
) -> BoxFuture<'a, Option<StoreError>> {
    Box::pin(async move {
        let _turn = turn.lock_owned().await;
        match attempt(&pool, ops, false).await {
            Ok(true) => None,
            Ok(false) => attempt(&pool, ops, true).await.err(),
            Err(e) => Some(e),
        }
    })
}

/// One transaction over `ops`. Without savepoints, the first failing write rolls everything
/// back and gives `Ok(false)`; with them, each failing write is undone alone. `Ok(true)` =
/// committed.
async fn attempt(pool: &SqlitePool, ops: &mut [Op], savepoints: bool) -> StoreResult<bool> {
    let mut tx = pool
        .begin_with(crate::db::begin_immediate())
        .await
        .map_err(db_err)?;
    for op in ops.iter_mut() {
        if savepoints {
            exec(&mut tx, "SAVEPOINT zegel_write").await?;
        }
        let ok = op.run(&mut tx).await;
        match (ok, savepoints) {
            (true, false) => {}
            (false, false) => {
                tx.rollback().await.map_err(db_err)?;
                return Ok(false);
            }
            (true, true) => exec(&mut tx, "RELEASE zegel_write").await?,
            (false, true) => {
                exec(&mut tx, "ROLLBACK TO zegel_write").await?;
                exec(&mut tx, "RELEASE zegel_write").await?;
            }
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> StoreResult<()> {
    sqlx::query(sql)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(db_err)
}
