//! The one wait: look until a condition holds or its window has passed.
//!
//! # The clock rule
//!
//! Every window counts from an *origin*: for a step about a probe, the
//! moment the probe was sent (the start of its SMTP conversation); for any
//! other step, the moment the step started. The helper looks once at once,
//! then again whenever the observer signals news (the sink wakes it on every
//! arrival) or a short backoff has passed (50 ms, doubling to 1 s), and
//! makes a last look once `origin + window` is reached. A condition holds
//! *within* the window when a look that started no later than that last
//! look finds it true. The time reported is when the look that found it
//! finished, less the origin: for a notified observer, about the arrival.
//!
//! For "must not happen" steps the same rule applies: the step passes when
//! the wait times out.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What one look found.
#[derive(Debug)]
pub enum Look<T, E> {
    /// The condition holds; this is what was seen.
    Ready(T),
    /// Not yet; look again.
    NotYet,
    /// Stop looking: the answer cannot change (an error, a missing capability).
    Abort(E),
}

/// How a wait ended.
#[derive(Debug)]
pub enum Waited<T, E> {
    /// The condition held; the look that saw it finished `after` the origin.
    Ready { value: T, after: Duration },
    /// The last look, at or after the window's end, still found nothing;
    /// `after` is when that look started.
    TimedOut { after: Duration },
    /// A look aborted the wait.
    Aborted(E),
}

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Looks with `look` until it is ready, aborts, or `window` has passed since
/// `origin` (see the module's clock rule). `wake`, when given, is a channel
/// whose every change means "look now" (the sink's arrivals).
pub async fn within<T, E, W, F, Fut>(
    origin: Instant,
    window: Duration,
    mut wake: Option<watch::Receiver<W>>,
    mut look: F,
) -> Waited<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Look<T, E>>,
{
    let deadline = origin + window;
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some(rx) = wake.as_mut() {
            // Whatever arrived before this look is seen by it.
            rx.borrow_and_update();
        }
        let started = Instant::now();
        match look().await {
            Look::Ready(value) => return Waited::Ready { value, after: Instant::now().saturating_duration_since(origin) },
            Look::Abort(e) => return Waited::Aborted(e),
            Look::NotYet => {}
        }
        if started >= deadline {
            return Waited::TimedOut { after: started.saturating_duration_since(origin) };
        }
        let until = (Instant::now() + backoff).min(deadline);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        match wake.as_mut() {
            Some(rx) => {
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            // The sender is gone: no more news, keep polling.
                            wake = None;
                        } else {
                            backoff = FIRST_BACKOFF;
                        }
                    }
                    _ = tokio::time::sleep_until(until) => {}
                }
            }
            None => tokio::time::sleep_until(until).await,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The clock rule on tokio's paused clock: no wall time is spent.
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn ready_reports_the_time_since_the_origin() {
        let origin = Instant::now();
        let looks = AtomicU32::new(0);
        let waited: Waited<u32, ()> = within(origin, Duration::from_secs(5), None::<watch::Receiver<()>>, || async {
            let n = looks.fetch_add(1, Ordering::SeqCst);
            if Instant::now() >= origin + Duration::from_millis(700) { Look::Ready(n) } else { Look::NotYet }
        })
        .await;
        match waited {
            Waited::Ready { after, .. } => {
                assert!(after >= Duration::from_millis(700) && after < Duration::from_millis(1700), "{after:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_last_look_is_made_at_the_deadline() {
        let origin = Instant::now();
        let window = Duration::from_secs(3);
        let last = std::sync::Mutex::new(Duration::ZERO);
        let waited: Waited<(), ()> = within(origin, window, None::<watch::Receiver<()>>, || async {
            *last.lock().unwrap() = origin.elapsed();
            Look::NotYet
        })
        .await;
        let last = *last.lock().unwrap();
        assert!(matches!(waited, Waited::TimedOut { after } if after == last), "{waited:?}");
        assert_eq!(last, window, "the last look starts exactly at the window's end");
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_already_over_still_gets_one_look() {
        let origin = Instant::now();
        tokio::time::advance(Duration::from_secs(10)).await;
        let waited: Waited<&str, ()> =
            within(origin, Duration::from_secs(1), None::<watch::Receiver<()>>, || async { Look::Ready("there") }).await;
        assert!(matches!(waited, Waited::Ready { value: "there", after } if after == Duration::from_secs(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_notification_wakes_the_wait_before_the_backoff() {
        let origin = Instant::now();
        let (tx, rx) = watch::channel(0u64);
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = flag.clone();
        tokio::spawn(async move {
            // Long after the backoff has grown to its maximum of 1 s.
            tokio::time::sleep(Duration::from_millis(5_300)).await;
            f.store(true, Ordering::SeqCst);
            tx.send_replace(1);
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let waited: Waited<(), ()> = within(origin, Duration::from_secs(30), Some(rx), || {
            let ready = flag.load(Ordering::SeqCst);
            async move { if ready { Look::Ready(()) } else { Look::NotYet } }
        })
        .await;
        match waited {
            Waited::Ready { after, .. } => assert!(after < Duration::from_millis(5_350), "woken late: {after:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn abort_ends_the_wait_at_once() {
        let waited: Waited<(), &str> =
            within(Instant::now(), Duration::from_secs(30), None::<watch::Receiver<()>>, || async { Look::Abort("unsupported") }).await;
        assert!(matches!(waited, Waited::Aborted("unsupported")));
    }
}
