//! A stamp's text: the fixed-width form the nodes compare as strings,
//! and the drift floor the last-writer-wins script checks a stamp
//! against, each written digit by digit.

/// The node time from which a write stamped `timestamp` is within
/// `max_drift_ms` of the node's clock: the stamp's milliseconds less the
/// bound, as `<seconds:010>.<millis:03>`. The last-writer-wins script
/// compares it as text with the seconds of the node's `TIME`, and does the
/// arithmetic only when the seconds do not settle it: that comparison
/// costs a write about 8,000 fewer instructions on the node than parsing
/// the numbers every time (BENCHMARKS.md, "The allocator and the
/// last-writer-wins script").
/// The milliseconds are the stamp's leading digits, at most 13: a shorter
/// stamp copied from data written around the balancer (`t` = `5`) is an
/// early one. A timestamp that does
/// not start with a digit gets the latest time there is, so the node
/// refuses it.
pub fn drift_floor(timestamp: &str, max_drift_ms: u64) -> String {
    /// The last millisecond whose seconds still take ten digits.
    const LAST: u64 = 9_999_999_999_999;
    let digits = timestamp
        .bytes()
        .take(13)
        .take_while(u8::is_ascii_digit)
        .count();
    let floor = timestamp[..digits]
        .parse::<u64>()
        .map_or(LAST, |millis| millis.saturating_sub(max_drift_ms).min(LAST));
    let mut out = String::with_capacity(14);
    push_padded(&mut out, floor / 1000, 10);
    out.push('.');
    push_padded(&mut out, floor % 1000, 3);
    out
}

/// A stamp's text, `{millis:013}.{counter:06}.{id}`, written digit by
/// digit: `format!` with padding cost ~2,000 instructions a write
/// (callgrind), this a few hundred.
pub(super) fn text(millis: u64, counter: u64, id: &str) -> String {
    let mut out = String::with_capacity(13 + 1 + 6 + 1 + id.len());
    push_padded(&mut out, millis, 13);
    out.push('.');
    push_padded(&mut out, counter, 6);
    out.push('.');
    out.push_str(id);
    out
}

/// Appends `n` in decimal, with leading zeros up to `width` digits.
fn push_padded(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut len = 0;
    while n > 0 || len == 0 {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    for _ in len..width {
        out.push('0');
    }
    out.extend(digits[..len].iter().rev().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_written_as_format_would() {
        for (millis, counter) in [(0, 0), (1, 7), (1_795_382_011_364, 999_999), (u64::MAX, 1)] {
            assert_eq!(
                text(millis, counter, "b1"),
                format!("{millis:013}.{counter:06}.b1")
            );
        }
    }

    #[test]
    fn the_drift_floor_is_the_stamp_less_the_bound_in_seconds_and_millis() {
        assert_eq!(
            drift_floor("1795382011364.000003.b1", 1000),
            "1795382010.364"
        );
        assert_eq!(
            drift_floor("1795382011364.000003.b1!1795382011400.000000.b2", 5),
            "1795382011.359",
            "a TTL change is bounded by the write it changes"
        );
        assert_eq!(
            drift_floor("0000000000002.000000.b", 1000),
            "0000000000.000"
        );
        assert_eq!(drift_floor("not a stamp", 1000), "9999999999.999");
        assert_eq!(drift_floor("", 1000), "9999999999.999");
        assert_eq!(drift_floor("5", 0), "0000000000.005");
        assert_eq!(drift_floor("123456789012.5.b", 12), "0123456789.000");
        assert_eq!(drift_floor("99999999999999.0.b", 0), "9999999999.999");
    }
}
