//! Setup: enroll and activate N tokens.

use anyhow::{anyhow, ensure, Result};
use ring::rand::SystemRandom;
use serde_json::json;

use crate::http::{
    agent, code_text, enroll_call, now_step, random_seed, send, Call, Codes, Target,
};
use crate::server::{token_name, user_name};
use crate::WINDOW_STEPS;

/// A token the bench enrolled, with the step its activation consumed.
pub(crate) struct BenchToken {
    pub(crate) id: String,
    pub(crate) usr: String,
    pub(crate) seed: Vec<u8>,
    pub(crate) activated_step: i64,
}

/// Enrolls and activates `n` tokens over `c` connections; any refusal stops the run,
/// since every later figure assumes these tokens exist and are Act.
pub(crate) fn setup(
    target: &Target,
    n: usize,
    c: usize,
    preloaded: Option<&[Vec<u8>]>,
) -> Result<Vec<BenchToken>> {
    let parts: Vec<Result<Vec<BenchToken>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..c)
            .map(|w| s.spawn(move || setup_part(target, (w..n).step_by(c), preloaded)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("setup thread panicked")))
            })
            .collect()
    });
    let mut tokens = Vec::with_capacity(n);
    for part in parts {
        tokens.extend(part?);
    }
    Ok(tokens)
}

fn setup_part(
    target: &Target,
    indices: impl Iterator<Item = usize>,
    preloaded: Option<&[Vec<u8>]>,
) -> Result<Vec<BenchToken>> {
    let agent = agent();
    let rng = SystemRandom::new();
    indices
        .map(|i| {
            let seed = preloaded.and_then(|p| p.get(i)).cloned();
            enroll_and_activate(&agent, target, &rng, i, seed)
        })
        .collect()
}

/// Activation spends the oldest step of the window (one before now), so the current step
/// stays usable for the success scenario; a later step if that code repeats within the
/// window (the server would record the later step as used). A step boundary may pass
/// before the server decides, which puts that step outside its window: then once more
/// with the step that is current by then.
fn enroll_and_activate(
    agent: &ureq::Agent,
    target: &Target,
    rng: &SystemRandom,
    i: usize,
    imported: Option<Vec<u8>>,
) -> Result<BenchToken> {
    let (id, usr) = (token_name(i), user_name(i));
    let seed = match imported {
        Some(seed) => seed,
        None => {
            let seed = random_seed(rng)?;
            let (status, body) = send(agent, target, &enroll_call(&usr, &id, &seed))?;
            ensure!(status == 200, "enroll {id}: HTTP {status}: {body}");
            seed
        }
    };
    let codes = Codes::new(&seed, 0);
    let now = now_step();
    let mut activated = activate(agent, target, &id, &codes, now - WINDOW_STEPS, now);
    if activated.is_err() && now_step() != now {
        let now = now_step();
        activated = activate(agent, target, &id, &codes, now, now);
    }
    Ok(BenchToken {
        id,
        usr,
        seed,
        activated_step: activated?,
    })
}

/// Activates with the code of the first step in `lo..=hi` that no later step repeats;
/// the step spent.
fn activate(
    agent: &ureq::Agent,
    target: &Target,
    id: &str,
    codes: &Codes,
    lo: i64,
    hi: i64,
) -> Result<i64> {
    let step = (lo..=hi)
        .find(|&s| !codes.shadowed(s))
        .ok_or_else(|| anyhow!("{id}: every code of the window repeats"))?;
    let call = Call::post(
        format!("/api/v1/tokens/{id}/activate"),
        &json!({"Code": code_text(codes.at(step))}),
    );
    let (status, body) = send(agent, target, &call)?;
    ensure!(
        status == 200 && body.contains(r#""RsStat":"Success""#),
        "activate {id}: HTTP {status}: {body}"
    );
    Ok(step)
}
