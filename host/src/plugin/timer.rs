//! [`within`]: the wall-clock deadline of every guest call.
//!
//! A call's future returns `Pending` in two cases: the guest used another
//! [`YIELD_FUEL`](crate::engine::YIELD_FUEL) units of fuel and yields (its future wakes
//! itself at once), or it waits inside a host call (a socket read, a subprocess, a sleep).
//! The clock is read at every `Pending`, which ends a running guest within one yield of its
//! deadline without relying on when the executor next services its timers, and a timer set
//! for the deadline wakes a call that waits. Most calls finish in their first poll without
//! ever returning `Pending`, so the fast path reads no clock and pays no timer-wheel entry.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Instant;

use tokio::task::{Unconstrained, unconstrained};
use tokio::time::Sleep;

/// The call was still running or waiting at its deadline.
#[derive(Debug)]
pub(crate) struct TimedOut;

/// Runs `call` to its end or until `at`, whichever comes first.
///
/// `call` comes pinned where the caller made it: a guest call's future is hundreds of bytes
/// (wasmtime's call plus its fiber's bookkeeping), and taking it by value would store it
/// twice here and copy it at every layer of the call path on every call.
pub(crate) async fn within<F: Future + ?Sized>(
    at: Instant,
    mut call: Pin<&mut F>,
) -> Result<F::Output, TimedOut> {
    // Unconstrained: tokio's cooperative budget must never keep the timer from firing, even
    // when the call spent the task's budget (as `tokio::time::timeout` also ensures).
    let mut timer = pin!(None::<Unconstrained<Sleep>>);
    poll_fn(move |cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if Instant::now() >= at {
            return Poll::Ready(Err(TimedOut));
        }
        if timer.is_none() {
            timer.set(Some(unconstrained(tokio::time::sleep_until(at.into()))));
        }
        let sleep = timer.as_mut().as_pin_mut().expect("the timer was just set");
        sleep.poll(cx).map(|()| Err(TimedOut))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_ready_call_returns_its_output() {
        let at = Instant::now() + Duration::from_secs(5);
        assert_eq!(within(at, pin!(async { 7 })).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_waiting_call_is_cut_off_at_its_deadline() {
        let at = Instant::now() + Duration::from_millis(20);
        let waited = within(at, pin!(tokio::time::sleep(Duration::from_secs(30)))).await;
        assert!(waited.is_err());
        assert!(Instant::now() >= at);
    }

    /// A guest that computes and yields every so often (as a fuel yield does: wake, then
    /// `Pending`) never lets the executor park, so tokio services its timers only every few
    /// dozen polls. The clock read at each `Pending` stops it within one slice instead.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_running_call_is_cut_off_within_a_slice_of_its_deadline() {
        let slice = Duration::from_millis(2);
        let at = Instant::now() + Duration::from_millis(50);
        // On a worker, as plugin calls run: the worker itself must notice the deadline.
        let late = tokio::spawn(async move {
            let computing = poll_fn(|cx| {
                let busy = Instant::now();
                while busy.elapsed() < slice {
                    std::hint::spin_loop();
                }
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            });
            assert!(within(at, pin!(computing)).await.is_err());
            Instant::now() - at
        })
        .await
        .unwrap();
        assert!(late < slice * 5, "stopped {late:?} after the deadline");
    }

    #[tokio::test]
    async fn a_call_that_waits_but_finishes_in_time_returns_its_output() {
        let at = Instant::now() + Duration::from_secs(5);
        let slept = within(
            at,
            pin!(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                "done"
            }),
        )
        .await;
        assert_eq!(slept.unwrap(), "done");
    }
}
