//! The leadership checker: what the poller's answers ([`Poll`]) show about
//! leader election, with no I/O.
//!
//! **What an answer proves.** A balancer computed the view it answered at
//! some instant between the request's sending and the answer's arrival
//! (`[sent, received]`, the harness's monotonic clock). Two answers are
//! *certainly in order* when the first arrived before the second was sent;
//! two claims are *certainly less than `d` apart* when the span from the
//! earlier sending to the later arrival is at most `d`. Nothing else is
//! assumed, so a slow answer only makes the checker see less.
//!
//! **Why a bound of 1 s is sound.** With session timeout S (the harness
//! uses the default, 5000 ms), a leader cut off from ZooKeeper stops
//! claiming S/2 after its last answered exchange, while ZooKeeper expires
//! its session, and only then lets another contender be elected, no sooner
//! than S after the last exchange it heard. So two claims by different
//! balancers are at least S/2 (2.5 s) apart, less the time an answer takes
//! to come back from ZooKeeper; 1 s leaves 1.5 s for that. The window the
//! recipe cannot close (a leader paused between checking its lease and
//! acting on it) needs a paused balancer: `balancer-pause` makes one, and
//! the answer of a poll it held spans the pause (6 s or more), so it is
//! never certainly close to another claim; what such a leader does after
//! it resumes is fenced (the rebalancer's writes carry its token), which
//! the history checker judges. One handover is faster than the lease: a
//! leader stopped gracefully (clock-skew restarts with SIGTERM) closes its
//! session on its way out, and the next contender is elected at once,
//! and its successor process may answer before the next poll shows a gap.
//! So a claim of a balancer the harness stopped gracefully ([`Stop`])
//! between the two claims makes no pair.
//!
//! **Anomalies:**
//! - `two_leaders`: two answers from different balancers, both claiming to
//!   lead (`is_leader`), certainly less than [`Config::overlap_bound_us`]
//!   apart, unless one was stopped gracefully in between (above). Overlapping such pairs
//!   make one *episode*; episodes are counted.
//! - `token_went_back`: an answer certainly after another that shows a
//!   fencing token going back. Every election node's sequence number is
//!   greater than every earlier one's (ZooKeeper keeps its data across
//!   restarts), so (a) a leader's token only grows: a claim certainly
//!   after a claim of another balancer has a greater token; and (b) the
//!   lowest live election node, the current leader's, only grows, so the
//!   token one balancer reports, leader or not, never decreases, across
//!   its own restarts too (a restarted balancer reads ZooKeeper's current
//!   state, which is newer than anything its former process saw). Unknown
//!   tokens check nothing. Each answer that shows it is counted.
//!
//! Besides: polls, answers, claims, leader changes (consecutive claims, by
//! arrival, from a different balancer or with a different token), and the
//! longest stretch of the polling that no claim's interval covers.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::leader_polls::Poll;

/// The checker's settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Claims of different balancers certainly closer than this are two
    /// leaders at once, µs (see the module's doc for why 1 s).
    pub overlap_bound_us: u64,
    /// Anomalies of each kind reported with their evidence (the earliest);
    /// the rest are only counted.
    pub max_detailed: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            overlap_bound_us: 1_000_000,
            max_detailed: 20,
        }
    }
}

/// The kinds of leadership anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderAnomalyKind {
    /// Two balancers claimed to lead at once.
    TwoLeaders,
    /// A fencing token went back.
    TokenWentBack,
}

impl LeaderAnomalyKind {
    /// The name used in the summary.
    pub fn name(self) -> &'static str {
        match self {
            LeaderAnomalyKind::TwoLeaders => "two_leaders",
            LeaderAnomalyKind::TokenWentBack => "token_went_back",
        }
    }
}

/// A stretch of the run, µs since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// From.
    pub from_us: u64,
    /// To.
    pub to_us: u64,
}

impl Span {
    /// Its length, µs.
    pub fn len_us(&self) -> u64 {
        self.to_us.saturating_sub(self.from_us)
    }
}

/// One episode of two leaders at once.
#[derive(Debug, Clone, Serialize)]
pub struct TwoLeaders {
    /// From the first sending to the last arrival of its pairs.
    pub span: Span,
    /// Pairs of claims certainly closer than the bound in it.
    pub pairs: usize,
    /// The earliest pair.
    pub first_pair: [Poll; 2],
}

/// One answer showing a token going back, with the answer before it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenWentBack {
    /// What went back, in words.
    pub what: String,
    /// The answer with the greater token, certainly earlier.
    pub earlier: Poll,
    /// The answer that shows the lesser token.
    pub later: Poll,
}

/// What the checker found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Requests made.
    pub polls: usize,
    /// Requests answered with a view.
    pub answers: usize,
    /// Answers claiming to lead.
    pub claims: usize,
    /// Consecutive claims, by arrival, from another balancer or with
    /// another token.
    pub leader_changes: usize,
    /// The longest stretch of the polling no claim's interval covers.
    pub longest_without_leader: Option<Span>,
    /// Anomalies per kind, every kind present.
    pub counts: BTreeMap<&'static str, usize>,
    /// The first [`Config::max_detailed`] episodes of two leaders.
    pub two_leaders: Vec<TwoLeaders>,
    /// The first [`Config::max_detailed`] answers showing a token going
    /// back, by sending.
    pub token_went_back: Vec<TokenWentBack>,
}

/// A balancer the harness stopped with SIGTERM and started again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Which.
    pub balancer: String,
    /// From the SIGTERM to the successor process answering.
    pub span: Span,
}

/// Checks the poller's answers (any order), knowing the graceful stops.
pub fn check(polls: &[Poll], stops: &[Stop], config: &Config) -> Report {
    let mut claims: Vec<&Poll> = polls.iter().filter(|p| p.claim().is_some()).collect();
    claims.sort_by_key(|p| (p.sent_us, p.received_us));
    let episodes = two_leaders(&claims, stops, config.overlap_bound_us);
    let went_back = tokens_went_back(polls);
    let mut counts = BTreeMap::new();
    counts.insert(LeaderAnomalyKind::TwoLeaders.name(), episodes.len());
    counts.insert(LeaderAnomalyKind::TokenWentBack.name(), went_back.len());
    Report {
        polls: polls.len(),
        answers: polls.iter().filter(|p| p.view.is_some()).count(),
        claims: claims.len(),
        leader_changes: leader_changes(&claims),
        longest_without_leader: longest_without_leader(polls, &claims),
        counts,
        two_leaders: episodes.into_iter().take(config.max_detailed).collect(),
        token_went_back: went_back.into_iter().take(config.max_detailed).collect(),
    }
}

/// Episodes of claims of different balancers certainly closer than
/// `bound_us`, but for pairs around a graceful stop of either balancer
/// (it may have closed its session on its way out, which lets the next
/// leader in at once); `claims` by sending.
fn two_leaders(claims: &[&Poll], stops: &[Stop], bound_us: u64) -> Vec<TwoLeaders> {
    let stopped_between = |x: &Poll, y: &Poll| {
        stops.iter().any(|s| {
            s.balancer == x.balancer && s.span.to_us >= x.sent_us && s.span.from_us <= y.received_us
        })
    };
    let mut pairs = Vec::new();
    for (i, a) in claims.iter().enumerate() {
        let later = claims[i + 1..]
            .iter()
            .take_while(|b| b.sent_us <= a.sent_us + bound_us);
        for b in later.filter(|b| b.balancer != a.balancer) {
            let span = Span {
                from_us: a.sent_us,
                to_us: a.received_us.max(b.received_us),
            };
            if span.len_us() <= bound_us && !stopped_between(a, b) && !stopped_between(b, a) {
                pairs.push((span, *a, *b));
            }
        }
    }
    pairs.sort_by_key(|(span, ..)| (span.from_us, span.to_us));
    let mut episodes: Vec<TwoLeaders> = Vec::new();
    for (span, a, b) in pairs {
        match episodes.last_mut() {
            Some(e) if span.from_us <= e.span.to_us => {
                e.span.to_us = e.span.to_us.max(span.to_us);
                e.pairs += 1;
            }
            _ => episodes.push(TwoLeaders {
                span,
                pairs: 1,
                first_pair: [a.clone(), b.clone()],
            }),
        }
    }
    episodes
}

/// Answers with a token, by arrival, with the greatest token so far at
/// each (the latest answer that had it).
struct Highest<'p> {
    received_us: Vec<u64>,
    greatest: Vec<(u64, &'p Poll)>,
}

impl<'p> Highest<'p> {
    fn new(mut answers: Vec<(u64, &'p Poll)>) -> Highest<'p> {
        answers.sort_by_key(|(_, p)| p.received_us);
        let received_us = answers.iter().map(|(_, p)| p.received_us).collect();
        let mut greatest: Vec<(u64, &Poll)> = Vec::with_capacity(answers.len());
        for (token, poll) in answers {
            let best = match greatest.last() {
                Some(&(g, p)) if g > token => (g, p),
                _ => (token, poll),
            };
            greatest.push(best);
        }
        Highest {
            received_us,
            greatest,
        }
    }

    /// The greatest token of the answers that arrived before `sent_us`.
    fn before(&self, sent_us: u64) -> Option<(u64, &'p Poll)> {
        let n = self.received_us.partition_point(|&r| r < sent_us);
        n.checked_sub(1).map(|i| self.greatest[i])
    }
}

/// Every answer certainly after one with a greater token of the same
/// balancer, or, claiming, certainly after a claim of another balancer
/// with a token at least as great; by sending.
fn tokens_went_back(polls: &[Poll]) -> Vec<TokenWentBack> {
    let mut reports: BTreeMap<&str, Vec<(u64, &Poll)>> = BTreeMap::new();
    let mut claims: BTreeMap<&str, Vec<(u64, &Poll)>> = BTreeMap::new();
    for p in polls {
        if let Some(token) = p.token() {
            reports
                .entry(p.balancer.as_str())
                .or_default()
                .push((token, p));
        }
        if let Some(Some(token)) = p.claim() {
            claims
                .entry(p.balancer.as_str())
                .or_default()
                .push((token, p));
        }
    }
    let reports: BTreeMap<&str, Highest> = reports
        .into_iter()
        .map(|(b, a)| (b, Highest::new(a)))
        .collect();
    let claims: BTreeMap<&str, Highest> = claims
        .into_iter()
        .map(|(b, a)| (b, Highest::new(a)))
        .collect();
    let mut ordered: Vec<&Poll> = polls.iter().filter(|p| p.token().is_some()).collect();
    ordered.sort_by_key(|p| (p.sent_us, p.received_us));
    let mut found = Vec::new();
    for later in ordered {
        let token = later.token().expect("filtered on a token");
        let own = reports[later.balancer.as_str()].before(later.sent_us);
        if let Some((greater, earlier)) = own.filter(|&(g, _)| g > token) {
            found.push(TokenWentBack {
                what: format!(
                    "{} reported token {token} after it had reported {greater}",
                    later.balancer
                ),
                earlier: earlier.clone(),
                later: later.clone(),
            });
            continue;
        }
        if later.claim().is_none() {
            continue;
        }
        let other = claims
            .iter()
            .filter(|(b, _)| **b != later.balancer)
            .filter_map(|(_, h)| h.before(later.sent_us))
            .filter(|&(g, _)| g >= token)
            .max_by_key(|&(g, p)| (g, p.received_us));
        if let Some((greater, earlier)) = other {
            found.push(TokenWentBack {
                what: format!(
                    "{} claimed to lead with token {token} after {} had with {greater}",
                    later.balancer, earlier.balancer
                ),
                earlier: earlier.clone(),
                later: later.clone(),
            });
        }
    }
    found
}

/// Consecutive claims, by arrival, from another balancer or with another
/// token; `claims` in any order.
fn leader_changes(claims: &[&Poll]) -> usize {
    let mut by_arrival = claims.to_vec();
    by_arrival.sort_by_key(|p| p.received_us);
    by_arrival
        .windows(2)
        .filter(|w| (&w[0].balancer, w[0].claim()) != (&w[1].balancer, w[1].claim()))
        .count()
}

/// The longest stretch between the first sending and the last arrival of
/// all polls that no claim's `[sent, received]` covers; `claims` sorted by
/// sending.
fn longest_without_leader(polls: &[Poll], claims: &[&Poll]) -> Option<Span> {
    let start = polls.iter().map(|p| p.sent_us).min()?;
    let end = polls.iter().map(|p| p.received_us).max()?;
    let mut covered_to = start;
    let mut longest = Span {
        from_us: start,
        to_us: start,
    };
    let mut consider = |span: Span| {
        if span.len_us() > longest.len_us() {
            longest = span;
        }
    };
    for c in claims {
        consider(Span {
            from_us: covered_to,
            to_us: c.sent_us,
        });
        covered_to = covered_to.max(c.received_us);
    }
    consider(Span {
        from_us: covered_to,
        to_us: end,
    });
    Some(longest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leader_polls::View;

    const MS: u64 = 1000;

    /// A history of polls, times in ms.
    #[derive(Default)]
    struct Polls(Vec<Poll>);

    impl Polls {
        fn answer(&mut self, b: &str, span_ms: (u64, u64), is_leader: bool, token: Option<u64>) {
            self.0.push(Poll {
                balancer: b.into(),
                sent_us: span_ms.0 * MS,
                received_us: span_ms.1 * MS,
                view: Some(View {
                    zookeeper: "connected".into(),
                    leader: None,
                    is_leader,
                    leader_token: token,
                }),
                error: None,
            });
        }

        fn lead(&mut self, b: &str, span_ms: (u64, u64), token: u64) {
            self.answer(b, span_ms, true, Some(token));
        }

        fn follow(&mut self, b: &str, span_ms: (u64, u64), token: Option<u64>) {
            self.answer(b, span_ms, false, token);
        }

        fn silent(&mut self, b: &str, span_ms: (u64, u64)) {
            self.0.push(Poll {
                balancer: b.into(),
                sent_us: span_ms.0 * MS,
                received_us: span_ms.1 * MS,
                view: None,
                error: Some("connection refused".into()),
            });
        }

        /// `b` leads with `token` and `other` follows, polled every 100 ms
        /// over `[from, to)` ms, each answer taking 2 ms.
        fn steady(&mut self, b: &str, other: &str, token: u64, from: u64, to: u64) {
            for t in (from..to).step_by(100) {
                self.lead(b, (t, t + 2), token);
                self.follow(other, (t, t + 2), Some(token));
            }
        }

        fn check(&self) -> Report {
            check(&self.0, &[], &Config::default())
        }
    }

    fn counts(report: &Report) -> (usize, usize) {
        (
            report.counts["two_leaders"],
            report.counts["token_went_back"],
        )
    }

    #[test]
    fn a_failover_after_a_kill_is_clean_and_counted() {
        let mut h = Polls::default();
        h.steady("b1", "b2", 5, 0, 1000);
        // b1 killed: no answer; b2 elected 3 s later.
        for t in (1000..4000).step_by(100) {
            h.silent("b1", (t, t + 1));
            h.follow("b2", (t, t + 2), if t < 2500 { Some(5) } else { None });
        }
        h.steady("b2", "b1", 6, 4000, 5000);
        let r = h.check();
        assert_eq!(counts(&r), (0, 0));
        assert_eq!((r.polls, r.answers, r.claims), (100, 70, 20));
        assert_eq!(r.leader_changes, 1);
        assert_eq!(
            r.longest_without_leader,
            Some(Span {
                from_us: 902 * MS,
                to_us: 4000 * MS
            })
        );
    }

    #[test]
    fn overlapping_claims_of_two_balancers_are_one_episode_and_the_old_token_goes_back() {
        let mut h = Polls::default();
        h.steady("b1", "b2", 5, 0, 1000);
        for t in (1000..2000).step_by(100) {
            h.lead("b1", (t, t + 2), 5);
            h.lead("b2", (t, t + 3), 6);
        }
        h.steady("b2", "b1", 6, 2000, 3000);
        let r = h.check();
        // b1's claims from 1100 to 1900 ms come after b2 claimed token 6.
        assert_eq!(counts(&r), (1, 9));
        let e = &r.two_leaders[0];
        // b1 at 100 ms and b2 at 1000 ms are certainly less than 1 s
        // apart, b1 at 1900 ms and b2 at 2800 ms (answered at 2802) too.
        assert_eq!(
            e.span,
            Span {
                from_us: 100 * MS,
                to_us: 2802 * MS
            }
        );
        let [a, b] = &e.first_pair;
        assert_eq!((a.balancer.as_str(), a.sent_us), ("b1", 100 * MS));
        assert_eq!((b.balancer.as_str(), b.sent_us), ("b2", 1000 * MS));
        assert!(e.pairs > 10, "{}", e.pairs);
        assert!(
            r.token_went_back[0]
                .what
                .contains("b1 claimed to lead with token 5 after b2 had with 6"),
            "{}",
            r.token_went_back[0].what
        );
    }

    #[test]
    fn claims_certainly_within_the_bound_are_two_leaders_and_beyond_it_are_not() {
        // 900 ms apart, answers quick: certainly closer than 1 s.
        let mut near = Polls::default();
        near.lead("b1", (0, 2), 5);
        near.lead("b2", (900, 902), 6);
        assert_eq!(counts(&near.check()), (1, 0));
        // 1.5 s apart: what a lease allows.
        let mut far = Polls::default();
        far.lead("b1", (0, 2), 5);
        far.lead("b2", (1500, 1502), 6);
        assert_eq!(counts(&far.check()), (0, 0));
        // Close sendings, but one answer took 1.2 s: its claim may have
        // been made more than 1 s from the other, so nothing is certain.
        let mut slow = Polls::default();
        slow.lead("b1", (0, 1200), 5);
        slow.lead("b2", (100, 102), 6);
        assert_eq!(counts(&slow.check()), (0, 0));
    }

    #[test]
    fn a_gracefully_stopped_leader_hands_over_at_once_but_one_still_running_does_not() {
        // b1 stopped with SIGTERM at 150 ms, its successor answering at
        // 190 ms; b2 leads at 200 ms.
        let mut h = Polls::default();
        h.lead("b1", (0, 2), 5);
        h.lead("b1", (100, 102), 5);
        h.follow("b1", (200, 202), None);
        h.lead("b2", (200, 202), 6);
        let stop = Stop {
            balancer: "b1".into(),
            span: Span {
                from_us: 150 * MS,
                to_us: 190 * MS,
            },
        };
        let r = check(&h.0, std::slice::from_ref(&stop), &Config::default());
        assert_eq!(counts(&r), (0, 0));
        // Without the stop, nothing lets b2 in 100 ms after b1's claim.
        assert_eq!(counts(&h.check()), (1, 0));
        // A stop of b1 before its claims excuses nothing.
        let early = Stop {
            span: Span {
                from_us: 0,
                to_us: 0,
            },
            ..stop
        };
        let mut late = Polls::default();
        late.lead("b1", (10, 12), 5);
        late.lead("b2", (100, 102), 6);
        assert_eq!(
            counts(&check(&late.0, &[early], &Config::default())),
            (1, 0)
        );
    }

    #[test]
    fn one_balancer_claiming_twice_at_once_is_no_anomaly() {
        let mut h = Polls::default();
        h.lead("b1", (0, 50), 5);
        h.lead("b1", (10, 20), 5);
        assert_eq!(counts(&h.check()), (0, 0));
    }

    #[test]
    fn separate_episodes_are_counted_apart_and_details_are_capped() {
        let mut h = Polls::default();
        for (start, token) in [(0, 5), (5000, 7), (10_000, 9)] {
            h.lead("b1", (start, start + 2), token);
            h.lead("b2", (start + 1, start + 3), token + 1);
        }
        let r = check(
            &h.0,
            &[],
            &Config {
                max_detailed: 2,
                ..Config::default()
            },
        );
        assert_eq!(counts(&r), (3, 0));
        assert_eq!(r.two_leaders.len(), 2);
        assert_eq!(r.two_leaders[1].span.from_us, 5000 * MS);
    }

    #[test]
    fn a_balancer_reporting_a_lesser_token_later_is_token_went_back() {
        let mut h = Polls::default();
        h.follow("b2", (0, 2), Some(12));
        h.follow("b2", (100, 102), Some(9));
        let r = h.check();
        assert_eq!(counts(&r), (0, 1));
        let w = &r.token_went_back[0];
        assert_eq!((w.earlier.sent_us, w.later.sent_us), (0, 100 * MS));
        assert!(w.what.contains("b2 reported token 9"), "{}", w.what);
    }

    #[test]
    fn answers_not_certainly_in_order_show_nothing() {
        let mut h = Polls::default();
        // The second was sent before the first came back.
        h.follow("b2", (0, 150), Some(12));
        h.follow("b2", (100, 102), Some(9));
        assert_eq!(counts(&h.check()), (0, 0));
    }

    #[test]
    fn a_restarted_balancer_reporting_a_greater_token_and_unknown_tokens_are_fine() {
        let mut h = Polls::default();
        h.follow("b1", (0, 2), Some(5));
        h.silent("b1", (100, 101));
        h.follow("b1", (200, 202), None);
        h.follow("b1", (300, 302), Some(7));
        h.lead("b1", (400, 402), 8);
        assert_eq!(counts(&h.check()), (0, 0));
    }

    #[test]
    fn a_new_leader_claiming_a_token_not_greater_than_the_last_leaders_is_token_went_back() {
        for token in [12, 11] {
            let mut h = Polls::default();
            h.lead("b1", (0, 2), 12);
            h.lead("b2", (3000, 3002), token);
            let r = h.check();
            assert_eq!(counts(&r), (0, 1), "token {token}");
            let w = &r.token_went_back[0];
            assert_eq!(w.earlier.balancer, "b1");
            assert!(w.what.contains("after b1 had with 12"), "{}", w.what);
        }
        let mut h = Polls::default();
        h.lead("b1", (0, 2), 12);
        h.lead("b2", (3000, 3002), 13);
        assert_eq!(counts(&h.check()), (0, 0));
    }

    #[test]
    fn leader_changes_count_a_new_token_of_the_same_balancer() {
        let mut h = Polls::default();
        h.lead("b1", (0, 2), 5);
        h.lead("b1", (100, 102), 5);
        h.lead("b1", (3000, 3002), 8);
        h.lead("b2", (6000, 6002), 9);
        let r = h.check();
        assert_eq!(r.leader_changes, 2);
        assert_eq!(counts(&r), (0, 0));
    }

    #[test]
    fn no_polls_no_stretch_and_no_claims_one_stretch() {
        assert_eq!(Polls::default().check().longest_without_leader, None);
        let mut h = Polls::default();
        h.follow("b1", (0, 2), None);
        h.silent("b2", (500, 700));
        assert_eq!(
            h.check().longest_without_leader,
            Some(Span {
                from_us: 0,
                to_us: 700 * MS
            })
        );
    }
}
