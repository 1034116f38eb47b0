//! The SDK's own tokio runtime, where every exported `async` call does its work.
//!
//! uniffi polls an exported future on the thread that awaits it: a Kotlin dispatcher (the
//! main one, if the app calls from there) or a Swift executor. So the exported async
//! functions only hand their work to this runtime ([`run`]) and wait for the result:
//! polling them costs the caller's thread a wake-up, not the sync's JSON, merge and HTTP
//! work. The runtime has one thread, [`THREAD_NAME`], started on first use; store work
//! and callbacks that may block go to its blocking pool (`spawn_blocking`, threads of the
//! same name).

use crate::error::{Error, Result};
use crate::locks::Locked;
use once_cell::sync::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The name of the runtime's threads.
pub(crate) const THREAD_NAME: &str = "aparking-async";

/// How long a cancelled caller waits for its work to be dropped (it is dropped at its
/// next await point, so this is only reached if a step hangs).
const DROP_WAIT: Duration = Duration::from_secs(2);

/// The runtime, started on first use: a current-thread runtime driven by its own thread.
fn handle() -> Result<&'static tokio::runtime::Handle> {
    static HANDLE: OnceCell<tokio::runtime::Handle> = OnceCell::new();
    HANDLE.get_or_try_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(THREAD_NAME)
            .build()
            .map_err(|_| Error::Internal("the SDK's runtime could not start"))?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .map_err(|_| Error::Internal("the SDK's runtime thread could not start"))?;
        Ok(handle)
    })
}

/// Runs `work` on the SDK's runtime and waits for its output. Dropping the returned future
/// (the caller's coroutine or task was cancelled) stops the work at its next await point
/// and returns once the work is dropped, so that whatever it held (the sync lock) is free
/// again when the caller goes on. A panic in `work` is an `Internal` error, never an
/// unwind into the caller.
pub(crate) async fn run<F>(work: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let dropped = Arc::new(Dropped::default());
    let task = handle()?.spawn(Tracked {
        work: Some(Box::pin(work)),
        dropped: Arc::clone(&dropped),
    });
    let mut task = AbortOnDrop { task, dropped };
    match (&mut task.task).await {
        Ok(output) => Ok(output),
        Err(e) if e.is_panic() => Err(Error::Internal("an SDK task panicked")),
        Err(_) => Err(Error::Internal("an SDK task was stopped")),
    }
}

/// Set when the work is dropped (finished or aborted).
#[derive(Default)]
struct Dropped {
    done: Mutex<bool>,
    signal: Condvar,
}

/// The work, which says when it has been dropped.
struct Tracked<F: ?Sized> {
    dropped: Arc<Dropped>,
    /// Taken (dropped) first when this is dropped, before the signal.
    work: Option<Pin<Box<F>>>,
}

impl<F: Future + ?Sized> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.work.as_mut() {
            Some(work) => work.as_mut().poll(cx),
            None => Poll::Pending, // not reached: the work is only taken when dropped
        }
    }
}

impl<F: ?Sized> Drop for Tracked<F> {
    fn drop(&mut self) {
        drop(self.work.take());
        *self.dropped.done.locked() = true;
        self.dropped.signal.notify_all();
    }
}

/// The caller's side: aborts the task when dropped before it finished, and waits until
/// the work is dropped (unless this is a runtime thread, which must not wait for itself).
struct AbortOnDrop<T> {
    task: tokio::task::JoinHandle<T>,
    dropped: Arc<Dropped>,
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if self.task.is_finished() {
            return;
        }
        self.task.abort();
        if std::thread::current().name() == Some(THREAD_NAME) {
            return;
        }
        let done = self.dropped.done.locked();
        let _ = self
            .dropped
            .signal
            .wait_timeout_while(done, DROP_WAIT, |done| !*done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn the_work_runs_on_the_sdk_thread_and_its_output_comes_back() {
        let caller = std::thread::current().id();
        let (thread, name) = block_on_here(run(async {
            let t = std::thread::current();
            (t.id(), t.name().map(str::to_owned))
        }))
        .unwrap();
        assert_ne!(thread, caller);
        assert_eq!(name.as_deref(), Some(THREAD_NAME));
    }

    #[test]
    fn a_panic_is_an_internal_error() {
        let outcome = block_on_here(run(async { panic!("boom") }));
        assert!(matches!(
            outcome,
            Err(Error::Internal("an SDK task panicked"))
        ));
    }

    #[test]
    fn dropping_the_caller_drops_the_work_before_it_returns() {
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                // Letting go takes a while: a caller that did not wait would be gone.
                std::thread::sleep(Duration::from_millis(100));
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let held = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (flag, starting) = (Arc::clone(&held), Arc::clone(&started));
        let caller = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        caller.block_on(async {
            let mut work = Box::pin(run(async move {
                let _guard = SetOnDrop(flag);
                starting.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            }));
            // Once the work holds its guard, the caller gives up, as withTimeout or
            // Task.cancel() would.
            while !started.load(Ordering::SeqCst) {
                tokio::select! {
                    _ = &mut work => unreachable!("the work never ends"),
                    _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                }
            }
            drop(work);
        });
        assert!(
            held.load(Ordering::SeqCst),
            "the work (and what it held) was dropped by the time the caller went on"
        );
    }

    /// Polls `f` to completion on this thread (a bare runtime: no I/O, no timers), as foreign code polls an exported future.
    fn block_on_here<F: Future>(f: F) -> F::Output {
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        caller.block_on(f)
    }
}
