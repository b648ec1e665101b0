//! [`within`]: the outer timer around every guest call. Epoch interruption stops a guest
//! that runs past its deadline, but not one waiting inside a host call (a socket read, a
//! subprocess); this timer stops those. Most calls finish in their first poll without ever
//! waiting, so the timer is only created when the call first has to wait: the fast path
//! pays no timer-wheel entry.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use tokio::task::{Unconstrained, unconstrained};
use tokio::time::Sleep;

/// The call was still waiting when its timer fired.
#[derive(Debug)]
pub(crate) struct TimedOut;

/// Runs `call` to its end or until `at`, whichever comes first.
pub(crate) async fn within<F: Future>(at: Instant, call: F) -> Result<F::Output, TimedOut> {
    let mut call = pin!(call);
    // Unconstrained: tokio's cooperative budget must never keep the timer from firing, even
    // when the call spent the task's budget (as `tokio::time::timeout` also ensures).
    let mut timer = pin!(None::<Unconstrained<Sleep>>);
    poll_fn(move |cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
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
        assert_eq!(within(at, async { 7 }).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_waiting_call_is_cut_off_at_its_deadline() {
        let at = Instant::now() + Duration::from_millis(20);
        let waited = within(at, tokio::time::sleep(Duration::from_secs(30))).await;
        assert!(waited.is_err());
        assert!(Instant::now() >= at);
    }

    #[tokio::test]
    async fn a_call_that_waits_but_finishes_in_time_returns_its_output() {
        let at = Instant::now() + Duration::from_secs(5);
        let slept = within(at, async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            "done"
        })
        .await;
        assert_eq!(slept.unwrap(), "done");
    }
}
