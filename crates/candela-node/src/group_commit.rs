//! Group commit: many tasks that each need one small durable write (a
//! Schnorr nonce spent before its share leaves) share one transaction and
//! one `fsync`.
//!
//! Each caller queues its item and waits. Whoever holds the writer's turn
//! takes everything queued so far, writes it in one go, and tells every
//! caller of that batch the result; a caller whose item went out in
//! another's batch simply gets the answer. Under load one write carries
//! many items; alone, a caller writes its own item at once.
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

/// A queue of items waiting for one durable write (see the module doc).
pub(crate) struct GroupCommit<K> {
    queued: Mutex<Vec<(K, Waiter)>>,
    writer: tokio::sync::Mutex<()>,
}

impl<K> Default for GroupCommit<K> {
    fn default() -> Self {
        Self {
            queued: Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }
}

impl<K> GroupCommit<K> {
    /// Queue `item` and return once a write that carried it returned:
    /// `Ok` only when that write succeeded (its error otherwise). `write`
    /// gets a whole batch.
    pub(crate) async fn commit<F, Fut>(&self, item: K, write: F) -> Result<(), String>
    where
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let (tx, mut rx) = oneshot::channel();
        self.queue().push((item, tx));
        loop {
            tokio::select! {
                biased;
                answer = &mut rx => {
                    // a writer cancelled mid-write never answers: the item
                    // may or may not be durable, so the caller must not go on
                    return answer.unwrap_or_else(|_| {
                        Err("the write carrying this item was abandoned".into())
                    });
                }
                _turn = self.writer.lock() => {
                    let batch = std::mem::take(&mut *self.queue());
                    if batch.is_empty() {
                        continue;
                    }
                    let (items, waiters): (Vec<K>, Vec<Waiter>) = batch.into_iter().unzip();
                    let result = write(items).await;
                    for w in waiters {
                        let _ = w.send(result.clone());
                    }
                }
            }
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<(K, Waiter)>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_items_share_writes_and_every_item_is_written_before_its_caller_returns() {
        let gc = Arc::new(GroupCommit::<u32>::default());
        let written = Arc::new(Mutex::new(Vec::<u32>::new()));
        let writes = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let (gc, written, writes) = (gc.clone(), written.clone(), writes.clone());
            tasks.push(tokio::spawn(async move {
                gc.commit(i, |batch| {
                    let (written, writes) = (written.clone(), writes.clone());
                    async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        writes.fetch_add(1, Ordering::SeqCst);
                        written.lock().unwrap().extend(batch);
                        Ok(())
                    }
                })
                .await
                .unwrap();
                // written before the caller goes on
                assert!(written.lock().unwrap().contains(&i));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut all = written.lock().unwrap().clone();
        all.sort();
        assert_eq!(all, (0..64).collect::<Vec<_>>(), "each item written once");
        let n = writes.load(Ordering::SeqCst);
        assert!(n < 64, "64 concurrent items took {n} writes: none shared");
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_item_it_carried() {
        let gc = GroupCommit::<u32>::default();
        let e = gc
            .commit(1, |_| async { Err("disk full".to_string()) })
            .await
            .unwrap_err();
        assert_eq!(e, "disk full");
        // the next write is its own
        gc.commit(2, |b| async move {
            assert_eq!(b, vec![2]);
            Ok(())
        })
        .await
        .unwrap();
    }
}
