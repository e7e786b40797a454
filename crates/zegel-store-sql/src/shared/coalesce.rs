// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! Many callers' writes (or lookups by key) of one kind in one statement.
//!
//! On a busy node dozens of sends and notifications are in flight at once, and each statement
//! costs a round trip plus the server's fixed work per statement (executor start, commit, and
//! for a durable commit a WAL flush). The benchmark showed that fixed work to be a large share
//! of a message's cost. A [`Coalescer`] runs one task per kind of write: it takes whatever
//! requests are waiting (up to its maximum), runs them as one statement and answers every
//! caller with its own result. A caller hears "done" only when the statement has committed.
//!
//! When the batch statement fails (a unique clash, say), every request is run again alone, so
//! only the bad one gets the error and the others are kept. Under light load a batch holds one
//! request, so a caller waits for its own statement only.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use zegel_core::{StoreError, StoreResult};

/// A kind of write that can be done for many requests in one statement.
#[async_trait]
pub(crate) trait Batch: Send + Sync + 'static {
    type Req: Send + Sync + 'static;
    type Resp: Send + 'static;
    /// Runs `reqs` as one statement: `Err` when the statement failed (nothing was written),
    /// else one result per request, in order (a request left without one hears that its write
    /// was not carried out).
    async fn run(&self, reqs: &[&Self::Req]) -> StoreResult<Vec<StoreResult<Self::Resp>>>;
}

type Waiting<B> = (
    <B as Batch>::Req,
    oneshot::Sender<StoreResult<<B as Batch>::Resp>>,
);

/// Hands requests to the batching task of one [`Batch`].
pub(crate) struct Coalescer<B: Batch> {
    waiting: mpsc::UnboundedSender<Waiting<B>>,
}

impl<B: Batch> Clone for Coalescer<B> {
    fn clone(&self) -> Self {
        Self {
            waiting: self.waiting.clone(),
        }
    }
}

impl<B: Batch> Coalescer<B> {
    /// Starts the task; it ends when the last `Coalescer` handle is dropped.
    pub(crate) fn start(batch: B, max: usize) -> Self {
        let (waiting, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(batch, max, rx));
        Self { waiting }
    }

    /// Runs `req` with the next batch and returns its own result.
    pub(crate) async fn submit(&self, req: B::Req) -> StoreResult<B::Resp> {
        let (reply, answered) = oneshot::channel();
        self.waiting
            .send((req, reply))
            .map_err(|_| StoreError::Database("the database writer has stopped".into()))?;
        answered.await.map_err(|_| not_carried_out())?
    }
}

fn not_carried_out() -> StoreError {
    StoreError::Database("the write was not carried out".into())
}

async fn run<B: Batch>(batch: B, max: usize, mut rx: mpsc::UnboundedReceiver<Waiting<B>>) {
    let mut buf = Vec::with_capacity(max);
    while rx.recv_many(&mut buf, max).await > 0 {
        let waiting = std::mem::take(&mut buf);
        let reqs: Vec<&B::Req> = waiting.iter().map(|(r, _)| r).collect();
        let results = match batch.run(&reqs).await {
            Ok(results) => results,
            Err(e) if reqs.len() == 1 => vec![Err(e)],
            Err(_) => {
                let mut alone = Vec::with_capacity(reqs.len());
                for r in &reqs {
                    alone.push(match batch.run(std::slice::from_ref(r)).await {
                        Ok(one) => one
                            .into_iter()
                            .next()
                            .unwrap_or_else(|| Err(not_carried_out())),
                        Err(e) => Err(e),
                    });
                }
                alone
            }
        };
        drop(reqs);
        for ((_, reply), result) in waiting.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}
