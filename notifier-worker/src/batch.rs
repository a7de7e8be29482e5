//! Opportunistic batching of the worker's claim and outcome writes.
//!
//! Every delivery needs two writes: the claim before the attempt and the outcome after it. Under
//! load many deliveries are in flight at once, and writing each on its own costs a statement, a
//! round trip and a commit apiece. A [`Batcher`] collects the requests that arrive while earlier
//! batches are being written and sends them as one statement. Nothing waits for a batch to fill:
//! a request that finds a free slot is written at once, so at low load every batch has one entry
//! and the latency is that of a single write.
//!
//! A batch that fails is retried one request at a time, so one bad entry (or a deadlock with
//! another worker) fails only itself. Every write it is used for is a single statement, atomic on
//! its own, so a failed batch wrote nothing and retrying its entries is safe.

use std::future::Future;
use std::sync::Arc;

use sea_orm::DbErr;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The answer to one request; a failure keeps its `DbErr`, so callers can tell an unreachable
/// database from a statement that failed.
type Reply<O> = oneshot::Sender<Result<O, DbErr>>;

/// Sends requests of type `I` to a batch writer that answers each with an `O`.
pub struct Batcher<I, O> {
    tx: mpsc::Sender<(I, Reply<O>)>,
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the writer task. `write` receives up to `max_batch` requests (shared, so a failed
    /// batch can be retried without copying every batch first) and must return one answer per
    /// request, in order. At most `in_flight` batches are written at once. The task
    /// ends when the last `Batcher` handle is dropped, after answering everything queued.
    pub fn spawn<F, Fut>(max_batch: usize, in_flight: usize, write: F) -> Self
    where
        F: Fn(Arc<[I]>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, DbErr>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<(I, Reply<O>)>(max_batch * in_flight.max(1) * 2);
        let write = Arc::new(write);
        let slots = Arc::new(Semaphore::new(in_flight.max(1)));
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            loop {
                // Take a slot first: while every slot is busy, requests pile up into the next batch.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                if rx.recv_many(&mut batch, max_batch).await == 0 {
                    return;
                }
                let jobs = std::mem::take(&mut batch);
                let write = write.clone();
                tokio::spawn(async move {
                    run(&*write, jobs).await;
                    drop(slot);
                });
            }
        });
        Self { tx }
    }

    /// Queues one request and waits for its answer.
    pub async fn call(&self, input: I) -> Result<O, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((input, reply))
            .await
            .map_err(|_| DbErr::Custom("the batch writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("the batch writer dropped the request".to_owned()))?
    }
}

async fn run<I, O, F, Fut>(write: &F, jobs: Vec<(I, Reply<O>)>)
where
    I: Clone,
    F: Fn(Arc<[I]>) -> Fut,
    Fut: Future<Output = Result<Vec<O>, DbErr>>,
{
    let (inputs, replies): (Vec<I>, Vec<Reply<O>>) = jobs.into_iter().unzip();
    let inputs: Arc<[I]> = inputs.into();
    let n = inputs.len();
    match write(inputs.clone()).await {
        Ok(outputs) if outputs.len() == n => {
            for (reply, out) in replies.into_iter().zip(outputs) {
                let _ = reply.send(Ok(out));
            }
        }
        Ok(outputs) => {
            let why = DbErr::Custom(format!("batch write answered {} of {n} requests", outputs.len()));
            for reply in replies {
                let _ = reply.send(Err(why.clone()));
            }
        }
        Err(e) if n == 1 => {
            let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
        }
        Err(e) => {
            tracing::warn!(error = %e, batch = n, "batched write failed; retrying its requests one by one");
            for (input, reply) in inputs.iter().zip(replies) {
                let out = match write(Arc::from([input.clone()])).await {
                    Ok(mut one) if one.len() == 1 => Ok(one.remove(0)),
                    Ok(one) => Err(DbErr::Custom(format!(
                        "batch write answered {} of 1 requests",
                        one.len()
                    ))),
                    Err(e) => Err(e),
                };
                let _ = reply.send(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_requests_share_batches_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Arc::new(Batcher::spawn(16, 1, move |xs: Arc<[u32]>| {
            seen.lock().unwrap().push(xs.len());
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(xs.iter().map(|x| x * 2).collect())
            }
        }));
        let calls: Vec<_> = (0..40u32)
            .map(|x| {
                let b = batcher.clone();
                tokio::spawn(async move { (x, b.call(x).await.unwrap()) })
            })
            .collect();
        for call in calls {
            let (x, doubled) = call.await.unwrap();
            assert_eq!(doubled, x * 2);
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 40);
        assert!(sizes.iter().all(|&n| n <= 16), "{sizes:?}");
        assert!(sizes.len() < 40, "requests were never batched: {sizes:?}");
    }

    #[tokio::test]
    async fn a_failed_batch_is_retried_one_by_one_so_only_the_bad_request_fails() {
        let batcher = Arc::new(Batcher::spawn(64, 1, |xs: Arc<[u32]>| async move {
            // One slow first batch, so the rest queue up behind it and are written together.
            if *xs == [0] {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if xs.contains(&7) {
                Err(DbErr::Custom("seven is refused".to_owned()))
            } else {
                Ok(xs.to_vec())
            }
        }));
        let first = {
            let b = batcher.clone();
            tokio::spawn(async move { b.call(0).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let calls: Vec<_> = (1..10u32)
            .map(|x| {
                let b = batcher.clone();
                tokio::spawn(async move { (x, b.call(x).await) })
            })
            .collect();
        assert_eq!(first.await.unwrap().unwrap(), 0);
        for call in calls {
            match call.await.unwrap() {
                (7, Err(e)) => assert!(e.to_string().contains("seven is refused"), "{e}"),
                (7, Ok(_)) => panic!("the bad request succeeded"),
                (x, out) => assert_eq!(out.unwrap(), x),
            }
        }
    }

    #[tokio::test]
    async fn a_lone_request_is_written_at_once() {
        let batcher = Batcher::spawn(64, 2, |xs: Arc<[u32]>| async move { Ok(xs.to_vec()) });
        let answer = tokio::time::timeout(Duration::from_millis(200), batcher.call(5)).await;
        assert_eq!(answer.unwrap().unwrap(), 5);
    }
}
