//! Parsing the workload flags: `get=80,set=15,delete=5`, `zipf:0.99`,
//! `lognormal:600:1.0`, `json:depth=3,width=4`, `file:PATH`, `10..60`.
//! Every rejection says what was expected.

use std::str::FromStr;

use super::{KeyDist, MAX_VALUE_BYTES, Mix, Payload, TtlChoice, ValueSize};

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mix = Mix {
            get: 0,
            set: 0,
            delete: 0,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("mix part {part:?} is not op=weight"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("mix weight {weight:?} is not a whole number"))?;
            match name.trim() {
                "get" => mix.get = weight,
                "set" => mix.set = weight,
                "delete" => mix.delete = weight,
                other => return Err(format!("unknown operation {other:?} (get, set, delete)")),
            }
        }
        if mix.total() == 0 {
            return Err("the mix has no operation with a weight above 0".into());
        }
        Ok(mix)
    }
}

impl FromStr for KeyDist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "uniform" => Ok(KeyDist::Uniform),
            None if s == "sequential" => Ok(KeyDist::Sequential),
            None if s == "zipf" => Ok(KeyDist::Zipf(0.99)),
            Some(("zipf", skew)) => match skew.parse::<f64>() {
                Ok(v) if v > 0.0 && v.is_finite() => Ok(KeyDist::Zipf(v)),
                _ => Err(format!("zipf skew must be a positive number, got {skew:?}")),
            },
            _ => Err(format!(
                "unknown key distribution {s:?} (uniform, sequential, zipf or zipf:SKEW)"
            )),
        }
    }
}

fn size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_VALUE_BYTES).contains(&n) => Ok(n),
        _ => Err(format!(
            "value size {s:?} must be 1..={MAX_VALUE_BYTES} bytes"
        )),
    }
}

impl FromStr for ValueSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("lognormal:") {
            let mut parts = rest.split(':');
            let median = size(parts.next().unwrap_or_default())?;
            let sigma = match parts.next() {
                None => 1.0,
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|v| *v > 0.0 && v.is_finite())
                    .ok_or_else(|| format!("lognormal sigma {v:?} must be a positive number"))?,
            };
            return Ok(ValueSize::LogNormal { median, sigma });
        }
        if let Some((lo, hi)) = s.split_once("..") {
            let (lo, hi) = (size(lo)?, size(hi)?);
            if lo > hi {
                return Err(format!("value size range {s:?} is empty"));
            }
            return Ok(ValueSize::Uniform(lo, hi));
        }
        size(s)
            .map(ValueSize::Fixed)
            .map_err(|e| format!("{e}; use N, LO..HI or lognormal:MEDIAN[:SIGMA]"))
    }
}

impl Payload {
    /// Parses `text`, `json[:depth=D,width=W]` or `file:PATH` (reads the file).
    pub fn parse(s: &str) -> Result<Payload, String> {
        if s == "text" {
            return Ok(Payload::Text);
        }
        if let Some(path) = s.strip_prefix("file:") {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read payload file {path:?}: {e}"))?;
            let lines: Vec<String> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                    Ok(_) => l.to_string(),
                    Err(_) => serde_json::Value::String(l.to_string()).to_string(),
                })
                .collect();
            if lines.is_empty() {
                return Err(format!("payload file {path:?} has no values"));
            }
            return Ok(Payload::File(lines));
        }
        let shape = match s.strip_prefix("json") {
            Some("") => "",
            Some(rest) => rest
                .strip_prefix(':')
                .ok_or_else(|| format!("unknown payload {s:?}"))?,
            None => {
                return Err(format!(
                    "unknown payload {s:?} (text, json[:depth=D,width=W], file:PATH)"
                ));
            }
        };
        let (mut depth, mut width) = (2, 4);
        for part in shape.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("json shape part {part:?} is not name=value"))?;
            let value: u32 = value
                .parse()
                .ok()
                .filter(|v| (1..=8).contains(v))
                .ok_or_else(|| format!("json {name} must be 1..=8, got {value:?}"))?;
            match name {
                "depth" => depth = value,
                "width" => width = value,
                other => return Err(format!("unknown json shape field {other:?} (depth, width)")),
            }
        }
        Ok(Payload::Json { depth, width })
    }
}

impl FromStr for TtlChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let secs = |v: &str| match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("ttl {v:?} must be a positive number of seconds")),
        };
        if s == "none" {
            return Ok(TtlChoice::None);
        }
        if let Some((lo, hi)) = s.split_once("..") {
            let (lo, hi) = (secs(lo)?, secs(hi)?);
            if lo > hi {
                return Err(format!("ttl range {s:?} is empty"));
            }
            return Ok(TtlChoice::Uniform(lo, hi));
        }
        secs(s).map(TtlChoice::Fixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert!("get=0".parse::<Mix>().unwrap_err().contains("no operation"));
        assert!(
            "fetch=1"
                .parse::<Mix>()
                .unwrap_err()
                .contains("unknown operation")
        );
        assert!(
            "pareto"
                .parse::<KeyDist>()
                .unwrap_err()
                .contains("unknown key distribution")
        );
        assert!("zipf:-1".parse::<KeyDist>().is_err());
        assert!("0".parse::<ValueSize>().is_err());
        assert!("9..3".parse::<ValueSize>().is_err());
        assert!("0".parse::<TtlChoice>().is_err());
        assert!(Payload::parse("xml").is_err());
        assert!(
            Payload::parse("file:/nonexistent/values")
                .unwrap_err()
                .contains("cannot read")
        );
        assert_eq!(
            "lognormal:600".parse::<ValueSize>().unwrap(),
            ValueSize::LogNormal {
                median: 600,
                sigma: 1.0
            }
        );
    }
}
