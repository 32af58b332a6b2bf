//! Per-identity rate limits: requests per minute and concurrent action
//! runs, each answered with 429 and a message saying which limit and when
//! to retry.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candela_crypto::derive::checksum_address;

use crate::error::ApiError;

/// The limits (0 disables one).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Requests one identity may make per minute.
    pub per_minute: u32,
    /// Actions one identity may run at once.
    pub concurrent: u32,
}

#[derive(Default)]
struct Usage {
    window_start: Option<Instant>,
    in_window: u32,
    running: u32,
}

/// Counters per caller address.
pub struct RateLimiter {
    limits: RateLimits,
    usage: Mutex<HashMap<[u8; 20], Usage>>,
}

/// Held while an action runs; releases its concurrency slot on drop.
pub struct RunSlot {
    limiter: Arc<RateLimiter>,
    who: [u8; 20],
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        let mut usage = self.limiter.lock();
        if let Some(u) = usage.get_mut(&self.who) {
            u.running = u.running.saturating_sub(1);
        }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

fn limited(m: String) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "NodeRateLimited",
        m,
    )
}

impl RateLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: RateLimits) -> Arc<RateLimiter> {
        Arc::new(RateLimiter {
            limits,
            usage: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 20], Usage>> {
        self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Count one request of `who` at `now`; refuse it past the per-minute
    /// limit (the refused request is not counted).
    pub fn request(&self, who: [u8; 20], now: Instant) -> Result<(), ApiError> {
        if self.limits.per_minute == 0 {
            return Ok(());
        }
        let mut usage = self.lock();
        if usage.len() > 100_000 {
            // forget identities idle for a full window
            usage.retain(|_, u| {
                u.running > 0
                    || u.window_start
                        .is_some_and(|s| now.duration_since(s) < WINDOW)
            });
        }
        let u = usage.entry(who).or_default();
        let start = match u.window_start {
            Some(s) if now.duration_since(s) < WINDOW => s,
            _ => {
                u.window_start = Some(now);
                u.in_window = 0;
                now
            }
        };
        if u.in_window >= self.limits.per_minute {
            let retry = WINDOW.saturating_sub(now.duration_since(start)).as_secs() + 1;
            return Err(limited(format!(
                "{} made {} requests in the last minute, the limit of this node; retry in {retry} s",
                checksum_address(&who),
                self.limits.per_minute
            )));
        }
        u.in_window += 1;
        Ok(())
    }

    /// Take one of `who`'s concurrent action slots.
    pub fn run(self: &Arc<Self>, who: [u8; 20]) -> Result<RunSlot, ApiError> {
        let mut usage = self.lock();
        let u = usage.entry(who).or_default();
        if self.limits.concurrent != 0 && u.running >= self.limits.concurrent {
            return Err(limited(format!(
                "{} is already running {} actions on this node, the limit; retry when one ends",
                checksum_address(&who),
                self.limits.concurrent
            )));
        }
        u.running += 1;
        Ok(RunSlot {
            limiter: Arc::clone(self),
            who,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_past_the_per_minute_limit_get_429_until_the_window_ends() {
        let l = RateLimiter::new(RateLimits {
            per_minute: 3,
            concurrent: 0,
        });
        let (a, b) = ([1u8; 20], [2u8; 20]);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.request(a, t0).unwrap();
        }
        let e = l.request(a, t0).unwrap_err();
        assert_eq!(e.status.as_u16(), 429);
        assert!(e.message.contains("retry in"), "{}", e.message);
        l.request(b, t0)
            .expect("another identity has its own budget");
        l.request(a, t0 + WINDOW).expect("a new window");
    }

    #[test]
    fn concurrent_runs_are_capped_and_a_finished_run_frees_its_slot() {
        let l = RateLimiter::new(RateLimits {
            per_minute: 0,
            concurrent: 2,
        });
        let a = [1u8; 20];
        let s1 = l.run(a).unwrap();
        let _s2 = l.run(a).unwrap();
        assert_eq!(l.run(a).err().map(|e| e.status.as_u16()), Some(429));
        drop(s1);
        l.run(a).expect("a slot was freed");
    }
}
