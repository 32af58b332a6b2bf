//! Time-based sources: fixed intervals and cron patterns. Pure functions of
//! the last fire handled and the current time (milliseconds since the Unix
//! epoch, UTC), so restarts and catch-up are computed, not remembered.
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

/// A fixed period. Fires at `anchor + k·period` for k ≥ 1, where the anchor
/// is the trigger's first start, so a restart keeps the same phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    period_ms: i64,
}

impl Interval {
    /// An interval of `period` (at least 1 ms).
    pub fn new(period: Duration) -> Interval {
        Interval {
            period_ms: i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1),
        }
    }

    /// The period in milliseconds.
    pub fn period_ms(&self) -> i64 {
        self.period_ms
    }

    fn k(&self, anchor: i64, t: i64) -> i64 {
        (t.saturating_sub(anchor)).max(0) / self.period_ms
    }
}

/// A cron pattern evaluated in UTC: 5 fields (minute first), or 6 with
/// seconds first, as `croner` reads them.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pattern: String,
    cron: Box<croner::Cron>,
}

impl CronSchedule {
    /// Parse a pattern; the error says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<CronSchedule, String> {
        let cron = croner::Cron::from_str(pattern)
            .map_err(|e| format!("cron schedule {pattern:?}: {e}"))?;
        let s = CronSchedule {
            pattern: pattern.to_string(),
            cron: Box::new(cron),
        };
        // A pattern that can never match (31 February) fails here, not at run time.
        if s.next_after(0).is_none() {
            return Err(format!("cron schedule {pattern:?} never fires"));
        }
        Ok(s)
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The first fire strictly after `t` (ms), if any.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        // Cron has whole seconds: search from the second `t` falls in.
        let at = utc(whole_second(t))?;
        self.cron
            .find_next_occurrence(&at, false)
            .ok()
            .map(|d| whole_second(d.timestamp_millis()))
    }

    fn previous_at_or_before(&self, t: i64) -> Option<i64> {
        let at = utc(whole_second(t))?;
        self.cron
            .find_previous_occurrence(&at, true)
            .ok()
            .map(|d| whole_second(d.timestamp_millis()))
    }
}

fn whole_second(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// The fire times that are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Fire times strictly after the last handled one and at or before now,
    /// oldest first.
    pub fires: Vec<i64>,
    /// Older missed fires left out (beyond the catch-up limit).
    pub skipped: u64,
}

/// A time-based schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A fixed period from an anchor (ms).
    Interval {
        /// The period.
        every: Interval,
        /// The first start.
        anchor: i64,
    },
    /// A cron pattern.
    Cron(CronSchedule),
}

impl Schedule {
    /// The first fire strictly after `t`.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        match self {
            Schedule::Interval { every, anchor } => {
                let k = if t < *anchor { 0 } else { every.k(*anchor, t) };
                anchor.checked_add((k + 1).checked_mul(every.period_ms)?)
            }
            Schedule::Cron(c) => c.next_after(t),
        }
    }

    /// The fires in `(last, now]`: always the newest, plus at most
    /// `max_catch_up` older ones missed while the listener was down.
    pub fn due(&self, last: i64, now: i64, max_catch_up: u32) -> Due {
        let keep = u64::from(max_catch_up) + 1;
        match self {
            Schedule::Interval { every, anchor } => {
                if now < *anchor {
                    return Due {
                        fires: Vec::new(),
                        skipped: 0,
                    };
                }
                let (k_last, k_now) = (every.k(*anchor, last.max(*anchor)), every.k(*anchor, now));
                let total = u64::try_from(k_now - k_last).unwrap_or(0);
                let first = k_now - i64::try_from(total.min(keep)).unwrap_or(0) + 1;
                Due {
                    fires: (first..=k_now)
                        .map(|k| anchor + k * every.period_ms)
                        .collect(),
                    skipped: total.saturating_sub(keep),
                }
            }
            Schedule::Cron(c) => {
                // Walk back from now: the newest `keep` fires after `last`.
                let mut fires = Vec::new();
                let mut t = now;
                while let Some(f) = c.previous_at_or_before(t) {
                    if f <= last {
                        break;
                    }
                    if fires.len() as u64 == keep {
                        // Count the rest, forward, to report them.
                        let mut skipped = 0u64;
                        let mut g = c.next_after(last);
                        while let Some(x) = g {
                            if x >= fires.last().copied().unwrap_or(i64::MIN) || skipped > 1_000_000
                            {
                                break;
                            }
                            skipped += 1;
                            g = c.next_after(x);
                        }
                        fires.reverse();
                        return Due { fires, skipped };
                    }
                    fires.push(f);
                    t = f - 1;
                }
                fires.reverse();
                Due { fires, skipped: 0 }
            }
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// RFC 3339 text for a time in ms (UTC, millisecond precision).
pub fn rfc3339(ms: i64) -> String {
    utc(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

    fn interval(ms: u64) -> Schedule {
        Schedule::Interval {
            every: Interval::new(Duration::from_millis(ms)),
            anchor: T0,
        }
    }

    #[test]
    fn interval_fires_on_its_anchor_phase() {
        let s = interval(1000);
        assert_eq!(s.next_after(T0), Some(T0 + 1000));
        assert_eq!(s.next_after(T0 + 1), Some(T0 + 1000));
        assert_eq!(s.next_after(T0 + 1000), Some(T0 + 2000));
        assert_eq!(s.next_after(T0 + 1999), Some(T0 + 2000));
        assert_eq!(s.next_after(T0 - 5000), Some(T0 + 1000));
    }

    #[test]
    fn interval_due_is_each_fire_once_and_catch_up_is_bounded() {
        let s = interval(1000);
        assert_eq!(s.due(T0, T0 + 999, 10).fires, Vec::<i64>::new());
        assert_eq!(s.due(T0, T0 + 1000, 10).fires, vec![T0 + 1000]);
        // Already handled 1000: nothing new until 2000.
        assert!(s.due(T0 + 1000, T0 + 1500, 10).fires.is_empty());
        // Down for 5 periods: all five with catch-up 10.
        let d = s.due(T0 + 1000, T0 + 6200, 10);
        assert_eq!(d.fires, (2..=6).map(|k| T0 + k * 1000).collect::<Vec<_>>());
        assert_eq!(d.skipped, 0);
        // Catch-up 2: the newest and two missed ones; two skipped.
        let d = s.due(T0 + 1000, T0 + 6200, 2);
        assert_eq!(d.fires, vec![T0 + 4000, T0 + 5000, T0 + 6000]);
        assert_eq!(d.skipped, 2);
        // Catch-up 0: only the newest.
        let d = s.due(T0 + 1000, T0 + 6200, 0);
        assert_eq!(d.fires, vec![T0 + 6000]);
        assert_eq!(d.skipped, 4);
    }

    #[test]
    fn interval_catch_up_after_a_year_down_does_not_iterate_every_fire() {
        let s = interval(1);
        let year = 365 * 86_400_000;
        let d = s.due(T0, T0 + year, 3);
        assert_eq!(d.fires.len(), 4);
        assert_eq!(d.skipped, year as u64 - 4);
    }

    #[test]
    fn cron_with_seconds_fires_on_matching_seconds() {
        let c = CronSchedule::parse("*/10 * * * * *").unwrap();
        // T0 is at :20 seconds exactly.
        assert_eq!(c.next_after(T0), Some(T0 + 10_000));
        assert_eq!(c.next_after(T0 - 1), Some(T0));
        let s = Schedule::Cron(c);
        let d = s.due(T0 - 1, T0 + 35_000, 10);
        assert_eq!(d.fires, vec![T0, T0 + 10_000, T0 + 20_000, T0 + 30_000]);
        let d = s.due(T0 - 1, T0 + 35_000, 1);
        assert_eq!(d.fires, vec![T0 + 20_000, T0 + 30_000]);
        assert_eq!(d.skipped, 2);
    }

    #[test]
    fn five_field_cron_is_minute_first() {
        let c = CronSchedule::parse("0 12 * * *").unwrap();
        let next = c.next_after(T0).unwrap();
        assert_eq!(rfc3339(next), "2023-11-15T12:00:00.000Z");
    }

    #[test]
    fn impossible_or_malformed_cron_is_refused() {
        assert!(CronSchedule::parse("0 0 31 2 *")
            .unwrap_err()
            .contains("never fires"));
        assert!(CronSchedule::parse("nope").is_err());
        assert!(CronSchedule::parse("").is_err());
    }
}
