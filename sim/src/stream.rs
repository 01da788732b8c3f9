//! The key stream every policy sees, drawn once from a seed: each key's
//! size (log-normal, heavy-tailed), the tick it arrives, and the tick it
//! dies (its TTL expires, or an earlier delete), if within the run.

use std::ops::Range;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The smallest value drawn, bytes (as in the placement benchmark).
const MIN_SIZE: f64 = 100.0;

/// How the stream is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) keys: u32,
    pub(crate) ticks: u32,
    pub(crate) seed: u64,
    /// Median value size, bytes.
    pub(crate) median: f64,
    /// Log-normal sigma: 1.0 puts the mean at 1.65x the median.
    pub(crate) sigma: f64,
    /// The largest value, bytes (the balancer's limit is 1 MiB).
    pub(crate) max: f64,
    /// Mean TTL, ticks (exponential).
    pub(crate) ttl: f64,
    /// Share of keys deleted before their TTL (uniformly within it).
    pub(crate) deletes: f64,
}

/// The drawn stream.
#[derive(Debug)]
pub(crate) struct Stream {
    /// Size of key `i`, bytes.
    pub(crate) sizes: Vec<u32>,
    /// The keys arriving in each tick.
    pub(crate) arrivals: Vec<Range<u32>>,
    /// The keys dying at the start of each tick.
    pub(crate) deaths: Vec<Vec<u32>>,
}

impl Stream {
    pub(crate) fn draw(shape: Shape) -> Stream {
        let mut rng = StdRng::seed_from_u64(shape.seed);
        let ticks = shape.ticks as usize;
        let mut deaths = vec![Vec::new(); ticks];
        let arrival =
            |i: u32| (u64::from(i) * u64::from(shape.ticks) / u64::from(shape.keys)) as u32;
        let sizes = (0..shape.keys)
            .map(|i| {
                let z = normal(&mut rng);
                let size = (shape.median * (shape.sigma * z).exp()).clamp(MIN_SIZE, shape.max);
                let mut life = -shape.ttl * (1.0 - rng.random::<f64>()).ln();
                if rng.random::<f64>() < shape.deletes {
                    life *= rng.random::<f64>();
                }
                let dies = f64::from(arrival(i)) + 1.0 + life.floor();
                if dies < f64::from(shape.ticks) {
                    deaths[dies as usize].push(i);
                }
                size as u32
            })
            .collect();
        let arrivals = (0..shape.ticks)
            .map(|t| first_of(t, shape)..first_of(t + 1, shape))
            .collect();
        Stream {
            sizes,
            arrivals,
            deaths,
        }
    }

    /// Bytes alive at the start of each tick, after its deaths, before its
    /// arrivals: what the capacities are sized from.
    pub(crate) fn live_bytes(&self) -> Vec<u64> {
        let mut live = 0i64;
        let mut out = Vec::with_capacity(self.arrivals.len());
        for (arrivals, deaths) in self.arrivals.iter().zip(&self.deaths) {
            live -= deaths
                .iter()
                .map(|&k| i64::from(self.sizes[k as usize]))
                .sum::<i64>();
            out.push(live as u64);
            live += arrivals
                .clone()
                .map(|k| i64::from(self.sizes[k as usize]))
                .sum::<i64>();
        }
        out
    }
}

/// The first key arriving at tick `t` (keys arrive evenly over the run).
fn first_of(t: u32, shape: Shape) -> u32 {
    let first = (u64::from(t) * u64::from(shape.keys)).div_ceil(u64::from(shape.ticks));
    first.min(u64::from(shape.keys)) as u32
}

/// A standard normal draw (Box-Muller), to keep `rand` the only dependency.
fn normal(rng: &mut StdRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            keys: 100_000,
            ticks: 100,
            seed: 7,
            median: 600.0,
            sigma: 1.5,
            max: 1024.0 * 1024.0,
            ttl: 25.0,
            deletes: 0.1,
        }
    }

    #[test]
    fn every_key_arrives_once_and_dies_after_it_arrives() {
        let s = Stream::draw(shape());
        let arrived: u32 = s.arrivals.iter().map(|r| r.end - r.start).sum();
        assert_eq!(arrived, 100_000);
        for (t, deaths) in s.deaths.iter().enumerate() {
            for &k in deaths {
                let born = s.arrivals.iter().position(|r| r.contains(&k)).unwrap();
                assert!(born < t, "key {k} dies at {t}, born at {born}");
            }
        }
    }

    #[test]
    fn sizes_are_heavy_tailed_around_the_median() {
        let s = Stream::draw(shape());
        let mut sizes = s.sizes.clone();
        sizes.sort_unstable();
        let median = f64::from(sizes[sizes.len() / 2]);
        assert!((540.0..660.0).contains(&median), "median {median}");
        let mean = sizes.iter().map(|&s| f64::from(s)).sum::<f64>() / sizes.len() as f64;
        assert!(mean > 2.5 * median, "mean {mean} is not heavy-tailed");
    }

    #[test]
    fn the_same_seed_draws_the_same_stream() {
        assert_eq!(Stream::draw(shape()).sizes, Stream::draw(shape()).sizes);
        let live = Stream::draw(shape()).live_bytes();
        assert_eq!(live[0], 0);
        assert!(live[99] > live[10], "the cache fills while TTLs are long");
    }
}
