//! Group commit: the hot writes (new messages, job claims and completions) of many callers
//! share one `BEGIN IMMEDIATE` transaction and one fsync.
//!
//! SQLite has one writer at a time, and every commit with `synchronous=FULL` waits for the
//! disk. One transaction per API call makes the commit (and the hand-offs to SQLite's thread
//! for `BEGIN`, each statement and `COMMIT`) a queue that every caller waits in. Here one task
//! takes whatever writes are waiting (up to [`MAX_BATCH`]), runs each in its own `SAVEPOINT`
//! (a failing write is rolled back alone and gets its own error), commits once, and then
//! answers every caller. A caller hears "done" only after that commit is on disk; if the
//! commit fails, every caller in the batch gets the error and nothing of the batch is kept.

use crate::{db_err, WriteTurn};
use futures::future::BoxFuture;
use sqlx::sqlite::SqlitePool;
use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};
use zegel_core::{StoreError, StoreResult};

/// Writes per transaction at most.
const MAX_BATCH: usize = 64;

/// Called once the batch's fate is known: `None` = committed, `Some(e)` = the whole batch
/// was rolled back with `e`.
type Finish = Box<dyn FnOnce(Option<StoreError>) + Send>;
/// One write: runs on the batch's connection, says whether it succeeded (its savepoint is
/// kept) and how to answer its caller.
type Run =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Finish)> + Send>;

/// Hands writes to the batching task.
#[derive(Clone)]
pub(crate) struct Batcher {
    ops: mpsc::UnboundedSender<Run>,
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
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel::<StoreResult<T>>();
        let run: Run = Box::new(move |conn| {
            Box::pin(async move {
                let result = f(conn).await;
                let ok = result.is_ok();
                let finish: Finish = Box::new(move |failed| {
                    let _ = answer.send(match failed {
                        None => result,
                        Some(e) => Err(e),
                    });
                });
                (ok, finish)
            })
        });
        self.ops.send(run).map_err(|_| stopped())?;
        answered.await.map_err(|_| not_written())?
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the SQLite writer has stopped".into())
}

fn not_written() -> StoreError {
    StoreError::Database("the write was not carried out".into())
}

async fn run_batches(pool: SqlitePool, turn: WriteTurn, mut rx: mpsc::UnboundedReceiver<Run>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops = std::mem::take(&mut batch);
        let (finishes, failed) = run_batch(pool.clone(), turn.clone(), ops).await;
        for finish in finishes {
            finish(failed.clone());
        }
    }
}

/// Runs one batch. Returns the answers of the writes that ran (given once the write turn is
/// free) and the error that undid the whole batch, if any. Writes that never ran are
/// dropped, which tells their callers.
fn run_batch(
    pool: SqlitePool,
    turn: WriteTurn,
    ops: Vec<Run>,
) -> BoxFuture<'static, (Vec<Finish>, Option<StoreError>)> {
    Box::pin(async move {
        let _turn = turn.lock_owned().await;
        let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %db_err(e), "starting a write transaction failed");
                return (Vec::new(), None);
            }
        };
        let mut finishes = Vec::with_capacity(ops.len());
        for op in ops {
            if let Err(e) = exec(&mut tx, "SAVEPOINT zegel_write").await {
                return (finishes, Some(e));
            }
            let (ok, finish) = op(&mut tx).await;
            finishes.push(finish);
            let undo = if ok {
                Ok(())
            } else {
                exec(&mut tx, "ROLLBACK TO zegel_write").await
            };
            if let Err(e) = undo.and(exec(&mut tx, "RELEASE zegel_write").await) {
                // The transaction is in an unknown state: the whole batch is rolled back.
                return (finishes, Some(e));
            }
        }
        match tx.commit().await {
            Ok(()) => (finishes, None),
            Err(e) => (finishes, Some(db_err(e))),
        }
    })
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> StoreResult<()> {
    sqlx::query(sql)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(db_err)
}
