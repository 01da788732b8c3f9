//! Several balancers: `--target URL` or `--target URL=W`, repeatable.
//! Requests go round robin over the targets, or by weight: smooth weighted
//! round robin (as nginx does it) lays the targets out in a cycle of
//! sum-of-weights slots where each appears as often as its weight and the
//! heavy ones are spread out, not bunched; requests walk the cycle.

use std::str::FromStr;

/// The largest weight: the cycle holds one slot per unit of weight.
const MAX_WEIGHT: u32 = 1000;

/// One balancer and its share of the requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Base URL, without a trailing slash.
    pub url: String,
    /// Relative share.
    pub weight: u32,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A URL may hold '=' in its query, never after the last '=' that
        // is followed by digits only.
        let (url, weight) = match s.rsplit_once('=') {
            Some((url, w)) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
                let weight: u32 = w
                    .parse()
                    .ok()
                    .filter(|w| (1..=MAX_WEIGHT).contains(w))
                    .ok_or_else(|| format!("target {s:?}: weight must be 1 to {MAX_WEIGHT}"))?;
                (url, weight)
            }
            _ => (s, 1),
        };
        let url = url.trim_end_matches('/');
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("target {s:?}: expected http://HOST:PORT[=WEIGHT]"))?;
        if rest.is_empty() || rest.contains('/') {
            return Err(format!("target {s:?}: expected http://HOST:PORT[=WEIGHT]"));
        }
        Ok(Target {
            url: url.to_string(),
            weight,
        })
    }
}

/// The order requests visit the targets: indexes into the target list,
/// one cycle long. Smooth weighted round robin: each slot, every target
/// gains its weight, the one with the most goes next and pays the total.
pub fn cycle(targets: &[Target]) -> Vec<usize> {
    let total: i64 = targets.iter().map(|t| i64::from(t.weight)).sum();
    let mut current = vec![0i64; targets.len()];
    (0..total)
        .map(|_| {
            for (c, t) in current.iter_mut().zip(targets) {
                *c += i64::from(t.weight);
            }
            let best = (0..targets.len())
                .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
                .expect("at least one target");
            current[best] -= total;
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn parses_urls_with_and_without_weights() {
        assert_eq!(
            t("http://127.0.0.1:3100"),
            Target {
                url: "http://127.0.0.1:3100".into(),
                weight: 1
            }
        );
        assert_eq!(
            t("http://127.0.0.1:3100/=3"),
            Target {
                url: "http://127.0.0.1:3100".into(),
                weight: 3
            }
        );
        for (bad, why) in [
            ("127.0.0.1:3100", "expected http://"),
            ("http://h:1=0", "weight must be 1 to 1000"),
            ("http://h:1=1001", "weight must be 1 to 1000"),
            ("http://h:1/cache", "expected http://"),
            ("https://h:1", "expected http://"),
        ] {
            let err = bad.parse::<Target>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn the_cycle_gives_each_its_weight_spread_out() {
        let targets = [t("http://a:1=5"), t("http://b:1=1"), t("http://c:1=1")];
        let c = cycle(&targets);
        assert_eq!(c, [0, 0, 1, 0, 2, 0, 0]);
        let plain = [t("http://a:1"), t("http://b:1")];
        assert_eq!(cycle(&plain), [0, 1]);
        assert_eq!(cycle(&[t("http://a:1=3")]), [0, 0, 0]);
    }
}
