//! The leadership poller: every [`EVERY`], `GET /nodes` of every balancer
//! at once, each answer recorded as a [`Poll`] (sent and received on the
//! run's clock, what its `coordination` object says), so the leadership
//! checker can tell whether two balancers ever claimed to lead at once.
//! A balancer that does not answer in [`TIMEOUT`] (killed, restarting) is
//! recorded with no view: unknown. It runs through the load and the settle
//! phase, until stopped.

use std::time::{Duration, Instant};

use chaos::leader_polls::{Poll, View};
use hyper::Method;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::client::{Answer, Http};

/// How often every balancer is asked.
const EVERY: Duration = Duration::from_millis(100);

/// How long one answer may take. Longer answers would only widen the
/// intervals the checker reasons on, so they are given up on.
const TIMEOUT: Duration = Duration::from_secs(1);

/// Polls `balancers` (names and base URLs) until `stop` turns true (or its
/// sender goes); every answer, in the order they came.
pub(crate) async fn run(
    balancers: Vec<(String, String)>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> Vec<Poll> {
    let http = Http::new(TIMEOUT);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut polls = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return polls },
        }
        let mut round = JoinSet::new();
        for (name, url) in &balancers {
            round.spawn(poll(
                http.clone(),
                name.clone(),
                format!("{url}/nodes"),
                start,
            ));
        }
        while let Some(done) = round.join_next().await {
            polls.extend(done.ok());
        }
    }
}

/// One `GET /nodes`, recorded.
async fn poll(http: Http, balancer: String, url: String, start: Instant) -> Poll {
    let sent_us = start.elapsed().as_micros() as u64;
    let answer = http.send(Method::GET, &url, String::new()).await;
    let received_us = start.elapsed().as_micros() as u64;
    let (view, error) = match answer {
        Answer::Reply(200, _, body) => match View::from_nodes_body(&body) {
            Some(view) => (Some(view), None),
            None => (None, Some("no coordination object in /nodes".to_string())),
        },
        Answer::Reply(status, ..) => (None, Some(format!("status {status}"))),
        Answer::Refused(e) | Answer::Lost(e) => (None, Some(e)),
    };
    Poll {
        balancer,
        sent_us,
        received_us,
        view,
        error,
    }
}
