//! When each request *should* be sent in open-loop mode: a list of steps,
//! each holding a rate or ramping linearly from one rate to another.
//!
//! Send times are computed, not measured: request `i` of a step with rate
//! `r0` ramping to `r1` over `T` is due at the `t` where the step's count
//! `r0 t + (r1 - r0) t^2 / 2T` reaches `i`. Latency is measured from these
//! times, so a server that stalls cannot hide the requests it delayed
//! (no coordinated omission).

use std::str::FromStr;
use std::time::Duration;

/// One step of the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Requests per second at the start of the step.
    pub from_rate: f64,
    /// Requests per second at the end of the step.
    pub to_rate: f64,
    /// How long the step lasts.
    pub duration: Duration,
}

/// A sequence of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    steps: Vec<Step>,
}

impl Schedule {
    /// A schedule of the given steps; every rate must be positive.
    pub fn new(steps: Vec<Step>) -> Result<Schedule, String> {
        if steps.is_empty() {
            return Err("the schedule has no step".into());
        }
        for s in &steps {
            if !(s.from_rate > 0.0
                && s.to_rate > 0.0
                && s.from_rate.is_finite()
                && s.to_rate.is_finite())
            {
                return Err("every rate must be a positive number of requests per second".into());
            }
            if s.duration.is_zero() {
                return Err("every step must last longer than zero".into());
            }
        }
        Ok(Schedule { steps })
    }

    /// This schedule after a warm-up of `warmup` at its first rate (the
    /// schedule itself when `warmup` is zero).
    pub fn after_warmup(&self, warmup: Duration) -> Schedule {
        if warmup.is_zero() {
            return self.clone();
        }
        let first = self.steps[0].from_rate;
        let mut steps = vec![Step {
            from_rate: first,
            to_rate: first,
            duration: warmup,
        }];
        steps.extend_from_slice(&self.steps);
        Schedule { steps }
    }

    /// The total length.
    pub fn duration(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }

    /// How many requests the schedule sends.
    pub fn total_requests(&self) -> u64 {
        self.send_times().count() as u64
    }

    /// Each request's due time, as an offset from the start, in order.
    pub fn send_times(&self) -> impl Iterator<Item = Duration> + '_ {
        let mut offset = Duration::ZERO;
        self.steps.iter().flat_map(move |step| {
            let start = offset;
            offset += step.duration;
            step_times(*step).map(move |t| start + t)
        })
    }
}

fn step_times(step: Step) -> impl Iterator<Item = Duration> {
    let length = step.duration.as_secs_f64();
    let slope = (step.to_rate - step.from_rate) / length;
    let r0 = step.from_rate;
    (0u64..)
        .map(move |i| {
            let i = i as f64;
            if slope.abs() < 1e-12 {
                i / r0
            } else {
                (-r0 + (r0 * r0 + 2.0 * slope * i).sqrt()) / slope
            }
        })
        .take_while(move |t| t.is_finite() && *t < length)
        .map(Duration::from_secs_f64)
}

/// Parses `1h`, `30s`, `1.5s`, `250ms` or `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {s:?} is not a number with a unit (e.g. 30s)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit in duration {s:?} (ms, s, m, h)")),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl FromStr for Schedule {
    type Err = String;

    /// Parses `RATE:DURATION` steps, comma-separated, where RATE is `N` or
    /// `FROM->TO` for a ramp: `1000:30s,5000:30s` or `100->2000:1m`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rate = |r: &str| {
            r.trim()
                .parse::<f64>()
                .map_err(|_| format!("rate {r:?} is not a number"))
        };
        let steps = s
            .split(',')
            .map(|part| {
                let (rates, duration) = part
                    .split_once(':')
                    .ok_or_else(|| format!("schedule step {part:?} is not RATE:DURATION"))?;
                let (from_rate, to_rate) = match rates.split_once("->") {
                    Some((a, b)) => (rate(a)?, rate(b)?),
                    None => (rate(rates)?, rate(rates)?),
                };
                Ok(Step {
                    from_rate,
                    to_rate,
                    duration: parse_duration(duration)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Schedule::new(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let s: Schedule = "100:2s".parse().unwrap();
        let times: Vec<Duration> = s.send_times().collect();
        assert_eq!(times.len(), 200);
        assert_eq!(times[1], Duration::from_millis(10));
        assert_eq!(s.duration(), Duration::from_secs(2));
    }

    #[test]
    fn steps_follow_each_other() {
        let s: Schedule = "10:1s,100:1s".parse().unwrap();
        let times: Vec<Duration> = s.send_times().collect();
        assert_eq!(times.len(), 110);
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(times[10], Duration::from_secs(1));
    }

    #[test]
    fn a_warmup_runs_first_at_the_first_rate() {
        let s: Schedule = "10->20:1s,100:1s".parse().unwrap();
        let warmed = s.after_warmup(Duration::from_millis(500));
        assert_eq!(warmed.duration(), Duration::from_millis(2500));
        assert_eq!(warmed.total_requests(), s.total_requests() + 5);
        assert_eq!(s.after_warmup(Duration::ZERO), s);
    }

    #[test]
    fn a_ramp_sends_the_average_rate_and_speeds_up() {
        let s: Schedule = "100->300:10s".parse().unwrap();
        let n = s.total_requests();
        assert!((1_999..=2_001).contains(&n), "{n}");
        let times: Vec<Duration> = s.send_times().collect();
        let first = times[1] - times[0];
        let last = times[times.len() - 1] - times[times.len() - 2];
        assert!(first > last * 2, "gaps shrink: {first:?} then {last:?}");
    }

    #[test]
    fn durations_and_bad_schedules() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("0s").is_err());
        assert!("0:10s".parse::<Schedule>().is_err());
        assert!("100".parse::<Schedule>().is_err());
        assert!("100:1y".parse::<Schedule>().is_err());
    }
}
