//! Retries: exponential backoff with a bounded number of attempts, then the
//! dead-letter list.
use std::time::Duration;

/// How failed runs of an event are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all (the first run included) before the event is
    /// dead-lettered.
    pub max_attempts: u32,
    /// Wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Each wait is the previous one times this.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this long.
    RetryIn(Duration),
    /// Give up: the event goes to the dead-letter list.
    DeadLetter,
}

impl RetryPolicy {
    /// The wait after `failed` attempts have failed (1: after the first).
    pub fn delay(&self, failed: u32) -> Duration {
        let exp = i32::try_from(failed.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The decision once `attempts` attempts have been made and the last
    /// one failed.
    pub fn after_failure(&self, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts {
            AfterFailure::DeadLetter
        } else {
            AfterFailure::RetryIn(self.delay(attempts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            multiplier: 2.0,
        };
        let waits: Vec<u128> = (1..=6).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn the_last_allowed_failure_dead_letters() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.after_failure(1),
            AfterFailure::RetryIn(Duration::from_secs(1))
        );
        assert_eq!(
            p.after_failure(2),
            AfterFailure::RetryIn(Duration::from_secs(2))
        );
        assert_eq!(p.after_failure(3), AfterFailure::DeadLetter);
        let once = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        assert_eq!(once.after_failure(1), AfterFailure::DeadLetter);
    }
}
