//! The one path to durability: a thread of our own that makes sled's log
//! stable for every writer waiting on it, one flush at a time.
//!
//! sled 0.34's `flush_async` runs each flush on sled's own small thread
//! pool; concurrent flushes there hold sled's internal read lock while they
//! wait for log writes that need that same pool, a transaction waiting for
//! the write lock stops the rest, and the node hangs for good (sled #1308,
//! #1357; seen here with 60 concurrent posts). A blocking `flush` on this
//! thread never occupies sled's pool, and there is never more than one of
//! ours at a time. Writers that arrive while a flush runs share the next
//! one (group commit), so a burst of N writers costs about two fsyncs.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::{Result, StoreError};

/// Someone waiting for their writes to be durable.
enum Waiter {
    Async(tokio::sync::oneshot::Sender<Result<(), String>>),
    Blocking(mpsc::SyncSender<Result<(), String>>),
}

impl Waiter {
    fn answer(self, r: Result<(), String>) {
        // A waiter that gave up (timed out, dropped) no longer listens.
        let _ = match self {
            Waiter::Async(tx) => tx.send(r).map_err(|_| ()),
            Waiter::Blocking(tx) => tx.send(r).map_err(|_| ()),
        };
    }
}

pub(crate) struct Flusher {
    tx: Option<mpsc::Sender<Waiter>>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub fn start(db: sled::Db) -> Result<Flusher> {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let thread = std::thread::Builder::new()
            .name("kindred-flush".into())
            .spawn(move || {
                // Ends when the store is dropped (every sender gone).
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let r = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    for w in waiting {
                        w.answer(r.clone());
                    }
                }
            })
            .map_err(|e| StoreError::Db(format!("could not start the flush thread: {e}")))?;
        Ok(Flusher {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, w: Waiter) -> Result<()> {
        self.tx
            .as_ref()
            .and_then(|tx| tx.send(w).ok())
            .ok_or_else(|| StoreError::Db("the store is closing".into()))
    }

    /// Waits until everything written before the call is durable, at most
    /// `timeout`; never blocks the async runtime.
    pub async fn flush(&self, timeout: std::time::Duration) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Waiter::Async(tx))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r.map_err(StoreError::Db),
            Ok(Err(_)) => Err(StoreError::Db("the flush thread stopped".into())),
            Err(_) => Err(StoreError::FlushStalled(timeout.as_secs())),
        }
    }

    /// As [`Flusher::flush`], for callers outside the async runtime.
    pub fn flush_blocking(&self, timeout: std::time::Duration) -> Result<()> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Waiter::Blocking(tx))?;
        match rx.recv_timeout(timeout) {
            Ok(r) => r.map_err(StoreError::Db),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(StoreError::FlushStalled(timeout.as_secs()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(StoreError::Db("the flush thread stopped".into()))
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the channel ends the thread after the flush it may be in;
        // joining lets go of its handle on the database before the store's
        // directory lock is released.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
