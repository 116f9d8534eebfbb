//! Probes to one host are spaced out: at most N per minute, so a suite run
//! against a production list server never floods it (DESIGN.md, "Real
//! hosts"). The container target does not pace.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces sends at least `60 s / per_minute` apart, in the order callers
/// arrive. Cheap to share between scenarios running in parallel.
#[derive(Debug)]
pub struct Pacer {
    gap: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `per_minute` probes a minute at most; 0 is treated as 1.
    pub fn per_minute(per_minute: u32) -> Pacer {
        Pacer { gap: Duration::from_secs(60) / per_minute.max(1), next: Mutex::new(None) }
    }

    /// The time between two probes.
    pub fn gap(&self) -> Duration {
        self.gap
    }

    /// Waits until this caller may send; returns how long it waited.
    pub async fn wait_turn(&self) -> Duration {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + self.gap);
        // Hold the slot while sleeping, so callers keep their order.
        tokio::time::sleep_until(at).await;
        at - now
    }
}

#[cfg(test)]
mod tests {
    //! On tokio's paused clock: no wall time is spent.
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_by_the_gap() {
        let pacer = std::sync::Arc::new(Pacer::per_minute(10));
        assert_eq!(pacer.gap(), Duration::from_secs(6));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..4 {
            let p = pacer.clone();
            handles.push(tokio::spawn(async move {
                p.wait_turn().await;
                start.elapsed()
            }));
        }
        let mut times: Vec<Duration> = Vec::new();
        for h in handles {
            times.push(h.await.unwrap());
        }
        times.sort();
        assert_eq!(times, vec![Duration::ZERO, Duration::from_secs(6), Duration::from_secs(12), Duration::from_secs(18)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_does_not_bank_sends() {
        let pacer = Pacer::per_minute(60);
        pacer.wait_turn().await;
        tokio::time::advance(Duration::from_secs(30)).await;
        // Long after the last send: no wait, and the next one is a full gap later.
        assert_eq!(pacer.wait_turn().await, Duration::ZERO);
        assert_eq!(pacer.wait_turn().await, Duration::from_secs(1));
    }
}
