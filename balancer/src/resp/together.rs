//! Runs one run of pipelined commands ([`super::batch`] decides which):
//! together when the RESP port's shared pool lends the slots, else one
//! after another; the replies go to the connection's output in the order
//! sent.

use futures_util::future::join_all;
use tokio::sync::Semaphore;

use super::batch::Decoded;
use super::exec::{After, run};
use super::reply::Reply;
use crate::App;

/// Runs `commands`, which [`super::batch`] lets run at the same time,
/// and writes their replies to `output` in order. Those beyond the
/// first each take a slot of `spare`, the RESP port's shared pool; when
/// the pool lacks them they run one after another. `HELLO`
/// and `QUIT` run alone, so the replies of a run of several share one
/// protocol and none closes. Says whether the connection closes (after
/// `QUIT`).
pub(super) async fn run_together(
    app: &App,
    commands: Vec<Decoded>,
    spare: &Semaphore,
    protocol: &mut u8,
    output: &mut Vec<u8>,
) -> After {
    let extra = u32::try_from(commands.len().saturating_sub(1)).unwrap_or(u32::MAX);
    let slots = (extra > 0).then(|| spare.try_acquire_many(extra).ok());
    let Some(Some(_slots)) = slots else {
        for decoded in commands {
            let (reply, after) = run_decoded(app, decoded, protocol).await;
            reply.write(*protocol, output);
            if after == After::Close {
                return After::Close;
            }
        }
        return After::Continue;
    };
    let shared = *protocol;
    let answers = join_all(commands.into_iter().map(|decoded| async move {
        let mut own = shared;
        run_decoded(app, decoded, &mut own).await
    }))
    .await;
    for (reply, after) in answers {
        debug_assert_eq!(after, After::Continue, "QUIT runs alone");
        reply.write(shared, output);
    }
    After::Continue
}

async fn run_decoded(app: &App, decoded: Decoded, protocol: &mut u8) -> (Reply, After) {
    match decoded {
        Ok(command) => run(app, command, protocol).await,
        Err(refused) => (Reply::Error(refused), After::Continue),
    }
}
