//! Zipf draws in constant memory: rejection-inversion sampling (W. Hörmann
//! and G. Derflinger, "Rejection-inversion to generate variates from
//! monotone discrete distributions", ACM TOMACS 6(3), 1996), as Apache
//! Commons RNG's `RejectionInversionZipfSampler` does it.
//!
//! A table of cumulative probabilities costs 8 bytes per key (800 MB at
//! 10^8 keys) and a pass over every key to build; this sampler keeps five
//! numbers and takes about one uniform draw per sample (the rejection rate
//! is small for every exponent).

use rand::Rng;

/// Zipf over `1..=n` with exponent `s`: `P(k)` proportional to `1 / k^s`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    /// A sampler over `1..=n`; `n >= 1` and `s > 0` (checked by the flag
    /// parser).
    pub(super) fn new(n: u64, s: f64) -> Zipf {
        let mut z = Zipf {
            n: n as f64,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.threshold = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// One draw in `1..=n`.
    pub(super) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        loop {
            let u: f64 = rng.random();
            let u = self.h_integral_n + u * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    /// `h(x) = x^-s`.
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// An antiderivative of `h`: `(x^(1-s) - 1) / (1 - s)`, or `ln x` at
    /// `s = 1`, computed without cancellation near `s = 1`.
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.s) * log_x) * log_x
    }

    /// The inverse of [`Zipf::h_integral`].
    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, continuous at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    /// Draw frequencies match the exact probabilities within a few
    /// standard errors, for exponents below, at and above 1.
    #[test]
    fn frequencies_match_the_exact_distribution() {
        let n = 50u64;
        let draws = 200_000;
        for s in [0.5, 0.99, 1.0, 1.2, 2.0] {
            let zipf = Zipf::new(n, s);
            let mut rng = SmallRng::seed_from_u64(11);
            let mut counts = vec![0u64; n as usize + 1];
            for _ in 0..draws {
                let k = zipf.sample(&mut rng);
                assert!((1..=n).contains(&k), "{k} out of range");
                counts[k as usize] += 1;
            }
            let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
            for k in 1..=n {
                let p = (k as f64).powf(-s) / norm;
                let expected = p * draws as f64;
                let sd = (draws as f64 * p * (1.0 - p)).sqrt();
                let got = counts[k as usize] as f64;
                assert!(
                    (got - expected).abs() < 5.0 * sd + 2.0,
                    "s={s} k={k}: {got} draws, expected {expected:.0}"
                );
            }
        }
    }

    #[test]
    fn one_key_and_a_huge_key_space_work() {
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(Zipf::new(1, 0.99).sample(&mut rng), 1);
        let huge = Zipf::new(100_000_000_000, 0.99);
        assert!(std::mem::size_of_val(&huge) <= 64, "constant memory");
        for _ in 0..1000 {
            assert!((1..=100_000_000_000).contains(&huge.sample(&mut rng)));
        }
    }
}
