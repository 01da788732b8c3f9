//! What to send: the operation mix, which keys, how large and what kind of
//! values, which TTLs. Every choice comes from one seeded RNG, so a seed
//! replays the same request sequence.

mod parse;
mod zipf;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use self::zipf::Zipf;

/// Largest value the generator makes, leaving room under the balancer's
/// default 1 MiB limit for JSON quoting.
pub const MAX_VALUE_BYTES: usize = 1_000_000;

/// A cache operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `GET /cache/{key}`.
    Get,
    /// `POST /cache`.
    Set,
    /// `DELETE /cache/{key}`.
    Delete,
}

impl Op {
    /// The name used in logs and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
        }
    }
}

/// Relative weights of get, set and delete, e.g. `get=80,set=15,delete=5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    get: u32,
    set: u32,
    delete: u32,
}

/// How keys are drawn from the key space `0..keys`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// Key `i` (from 0) with probability proportional to `1 / (i + 1)^s`.
    Zipf(f64),
    /// `0, 1, 2, ...` wrapping around.
    Sequential,
}

/// How large values are, in bytes of payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueSize {
    /// Always this size.
    Fixed(usize),
    /// Uniform in `lo..=hi`.
    Uniform(usize, usize),
    /// Log-normal with this median and sigma: a heavy tail of large values.
    LogNormal {
        /// Median size in bytes.
        median: usize,
        /// Shape: 1.0 gives a 99th percentile about 10x the median.
        sigma: f64,
    },
}

/// What values look like.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON string of random letters and digits.
    Text,
    /// A JSON object nested `depth` levels, `width` fields per level, with
    /// string leaves sized to reach the chosen value size.
    Json {
        /// Levels of nesting (1 = a flat object).
        depth: u32,
        /// Fields per object.
        width: u32,
    },
    /// Values from a file, one JSON value per line (a line that is not
    /// JSON is sent as a JSON string); sizes are the file's.
    File(Vec<String>),
}

/// Which TTL each write carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlChoice {
    /// No TTL.
    None,
    /// Always this many seconds.
    Fixed(u64),
    /// Uniform in `lo..=hi` seconds.
    Uniform(u64, u64),
}

/// Everything that decides the requests.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Operation weights.
    pub mix: Mix,
    /// Size of the key space.
    pub keys: u64,
    /// How keys are drawn.
    pub key_dist: KeyDist,
    /// Key names are `<prefix><index>`.
    pub key_prefix: String,
    /// Value sizes.
    pub value_size: ValueSize,
    /// Value kind.
    pub payload: Payload,
    /// TTL per write.
    pub ttl: TtlChoice,
}

/// One request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The operation.
    pub op: Op,
    /// The key.
    pub key: String,
    /// For a set: the whole JSON body.
    pub body: Option<String>,
    /// Bytes of the value's JSON text (0 for get and delete).
    pub value_bytes: usize,
}

/// Draws requests from a workload.
#[derive(Debug)]
pub struct Generator {
    workload: Workload,
    rng: SmallRng,
    /// Built on the first zipf draw.
    zipf: Option<Zipf>,
    next_sequential: u64,
}

// === impl Generator ===

impl Generator {
    /// A generator seeded with `seed`.
    pub fn new(workload: Workload, seed: u64) -> Generator {
        Generator {
            workload,
            rng: SmallRng::seed_from_u64(seed),
            zipf: None,
            next_sequential: 0,
        }
    }

    /// The next request.
    pub fn next_request(&mut self) -> Request {
        let op = self.op();
        let index = self.key_index();
        let key = self.key_name(index);
        self.request_for(op, key)
    }

    /// A set of key `index`, for preloading.
    pub fn set_for_index(&mut self, index: u64) -> Request {
        let key = self.key_name(index);
        self.request_for(Op::Set, key)
    }

    fn request_for(&mut self, op: Op, key: String) -> Request {
        if op != Op::Set {
            return Request {
                op,
                key,
                body: None,
                value_bytes: 0,
            };
        }
        let value = self.value();
        let mut body = serde_json::json!({ "key": key }).to_string();
        body.pop(); // reopen the object to splice the value text in as is
        body.push_str(",\"value\":");
        body.push_str(&value);
        if let Some(ttl) = self.ttl() {
            body.push_str(&format!(",\"ttl\":{ttl}"));
        }
        body.push('}');
        Request {
            op,
            key,
            body: Some(body),
            value_bytes: value.len(),
        }
    }

    fn op(&mut self) -> Op {
        let m = self.workload.mix;
        let roll = self.rng.random_range(0..m.total());
        if roll < m.get {
            Op::Get
        } else if roll < m.get + m.set {
            Op::Set
        } else {
            Op::Delete
        }
    }

    fn key_index(&mut self) -> u64 {
        let keys = self.workload.keys;
        match self.workload.key_dist {
            KeyDist::Uniform => self.rng.random_range(0..keys),
            KeyDist::Sequential => {
                let i = self.next_sequential;
                self.next_sequential = (i + 1) % keys;
                i
            }
            KeyDist::Zipf(s) => {
                let zipf = self.zipf.get_or_insert_with(|| Zipf::new(keys, s));
                zipf.sample(&mut self.rng) - 1
            }
        }
    }

    fn key_name(&self, index: u64) -> String {
        format!("{}{index}", self.workload.key_prefix)
    }

    fn size(&mut self) -> usize {
        let size = match self.workload.value_size {
            ValueSize::Fixed(n) => n,
            ValueSize::Uniform(lo, hi) => self.rng.random_range(lo..=hi),
            ValueSize::LogNormal { median, sigma } => {
                let (u1, u2): (f64, f64) = (self.rng.random::<f64>().max(1e-12), self.rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                ((median as f64).ln() + sigma * z).exp() as usize
            }
        };
        size.clamp(1, MAX_VALUE_BYTES)
    }

    /// The value's JSON text.
    fn value(&mut self) -> String {
        match &self.workload.payload {
            Payload::Text => {
                let n = self.size();
                format!("\"{}\"", self.text(n))
            }
            &Payload::Json { depth, width } => {
                let n = self.size();
                let leaves = (width as usize).pow(depth).max(1);
                let leaf_len = (n / leaves).max(1);
                self.json_object(depth, width, leaf_len)
            }
            Payload::File(lines) => lines[self.rng.random_range(0..lines.len())].clone(),
        }
    }

    fn json_object(&mut self, depth: u32, width: u32, leaf_len: usize) -> String {
        let fields: Vec<String> = (0..width)
            .map(|i| {
                let value = if depth <= 1 {
                    format!("\"{}\"", self.text(leaf_len))
                } else {
                    self.json_object(depth - 1, width, leaf_len)
                };
                format!("\"f{i}\":{value}")
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    fn text(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    fn ttl(&mut self) -> Option<u64> {
        match self.workload.ttl {
            TtlChoice::None => None,
            TtlChoice::Fixed(t) => Some(t),
            TtlChoice::Uniform(lo, hi) => Some(self.rng.random_range(lo..=hi)),
        }
    }
}

impl Mix {
    pub(crate) fn total(self) -> u32 {
        self.get + self.set + self.delete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Workload {
        Workload {
            mix: "get=50,set=50".parse().unwrap(),
            keys: 1000,
            key_dist: KeyDist::Uniform,
            key_prefix: "k:".into(),
            value_size: ValueSize::Fixed(100),
            payload: Payload::Text,
            ttl: TtlChoice::None,
        }
    }

    #[test]
    fn a_seed_replays_the_same_requests() {
        let mut a = Generator::new(workload(), 7);
        let mut b = Generator::new(workload(), 7);
        for _ in 0..100 {
            assert_eq!(a.next_request(), b.next_request());
        }
    }

    #[test]
    fn set_bodies_are_json_with_the_value_size_asked_for() {
        let mut w = workload();
        w.mix = "set=1".parse().unwrap();
        w.ttl = "10..20".parse().unwrap();
        let mut g = Generator::new(w, 1);
        for _ in 0..20 {
            let r = g.next_request();
            let body: serde_json::Value = serde_json::from_str(r.body.as_ref().unwrap()).unwrap();
            assert_eq!(body["value"].as_str().unwrap().len(), 100);
            assert_eq!(r.value_bytes, 102);
            assert!((10..=20).contains(&body["ttl"].as_u64().unwrap()));
            assert_eq!(body["key"], serde_json::json!(r.key));
        }
    }

    #[test]
    fn json_payload_has_the_shape_asked_for() {
        let mut w = workload();
        w.mix = "set=1".parse().unwrap();
        w.payload = Payload::parse("json:depth=3,width=2").unwrap();
        w.value_size = ValueSize::Fixed(800);
        let r = Generator::new(w, 1).next_request();
        let body: serde_json::Value = serde_json::from_str(r.body.as_ref().unwrap()).unwrap();
        let leaf = &body["value"]["f0"]["f1"]["f0"];
        assert_eq!(leaf.as_str().unwrap().len(), 100);
        assert!(r.value_bytes >= 800);
    }

    #[test]
    fn mix_and_zipf_shape_the_stream() {
        let mut w = workload();
        w.mix = "get=80,set=15,delete=5".parse().unwrap();
        w.key_dist = "zipf:1.2".parse().unwrap();
        let mut g = Generator::new(w, 3);
        let (mut gets, mut hot) = (0, 0);
        for _ in 0..10_000 {
            let r = g.next_request();
            gets += usize::from(r.op == Op::Get);
            hot += usize::from(r.key == "k:0");
        }
        assert!((7_600..8_400).contains(&gets), "gets {gets}");
        // Zipf(1.2) over 1000 keys gives key 0 about 22% of draws.
        assert!((1_800..2_600).contains(&hot), "hot {hot}");
    }

    #[test]
    fn sequential_keys_wrap() {
        let mut w = workload();
        w.keys = 3;
        w.key_dist = KeyDist::Sequential;
        let mut g = Generator::new(w, 0);
        let keys: Vec<String> = (0..4).map(|_| g.next_request().key).collect();
        assert_eq!(keys, ["k:0", "k:1", "k:2", "k:0"]);
    }
}
