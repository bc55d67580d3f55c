//! Workloads: what one connection sends, and how its answers are judged.

use ring::rand::SystemRandom;
use serde_json::{json, Value};

use crate::http::{code_text, enroll_call, now_step, random_seed, Call, Codes, Target};
use crate::setup::BenchToken;
use crate::{Scenario, LOCK_AFTER_FAILURES, WINDOW_STEPS};

/// One connection's stream of requests in a scenario.
pub(crate) trait Workload {
    /// The next request; `None` when this connection has nothing valid left to send.
    fn next(&mut self) -> Option<Call>;
    /// Whether a 200 answer to the last request is the right one; `Err` says what was
    /// expected, for the report's diagnostics.
    fn judge(&mut self, answer: &Value) -> Result<(), String>;
}

/// What every workload of a scenario shares.
pub(crate) struct Plan<'a> {
    /// One per node; connection `w` talks to node `w % nodes` (round-robin, as a load
    /// balancer spreads connections).
    pub(crate) targets: Vec<Target>,
    pub(crate) tokens: &'a [BenchToken],
    pub(crate) connections: usize,
    pub(crate) seconds: u64,
}

impl Plan<'_> {
    /// The node connection `w` talks to.
    pub(crate) fn target(&self, w: usize) -> &Target {
        &self.targets[w % self.targets.len()]
    }

    /// Connection `w`'s own tokens: no two connections ever use one token, so the order
    /// in which each token's codes are spent is the order in which they are sent.
    pub(crate) fn share(&self, w: usize) -> impl Iterator<Item = &BenchToken> {
        self.tokens.iter().skip(w).step_by(self.connections)
    }
}

pub(crate) fn workload<'a>(
    plan: &'a Plan<'a>,
    scenario: Scenario,
    w: usize,
) -> Box<dyn Workload + 'a> {
    match scenario {
        Scenario::Floor => Box::new(Floor),
        Scenario::Success => Box::new(Successes::new(plan, w)),
        Scenario::Failure => Box::new(Failures::new(plan, w)),
        Scenario::Inquiry => Box::new(Inquiries {
            tokens: plan.share(w).collect(),
            at: 0,
        }),
        Scenario::Enroll => Box::new(Enrollments {
            worker: w,
            count: 0,
            rng: SystemRandom::new(),
            expected: String::new(),
        }),
    }
}

/// `GET /`: the cheapest route, the cost of the HTTP stack alone.
pub(crate) struct Floor;

impl Workload for Floor {
    fn next(&mut self) -> Option<Call> {
        Some(Call::get("/"))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        expect(answer["Service"] == "tokend", "Service tokend")
    }
}

/// A token's position in its codes during the success scenario.
struct Cursor<'a> {
    pub(crate) token: &'a BenchToken,
    pub(crate) codes: Codes,
    /// The oldest step not yet sent.
    pub(crate) next: i64,
    /// The drift the server learned at our last success (its window centres on it).
    pub(crate) drift: i64,
}

impl Cursor<'_> {
    /// The oldest unsent step the server surely accepts now. The server centres its ±10
    /// window on now + drift; a step boundary may pass between our clock and the server's
    /// (and did at the success that taught the drift), so one step of margin on each side.
    pub(crate) fn pick(&self, now: i64) -> Option<i64> {
        let reach = WINDOW_STEPS - 1;
        let lo = self.next.max(now - reach + self.drift.max(0));
        let hi = now + reach + self.drift.min(0);
        (lo..=hi).find(|&s| !self.codes.shadowed(s))
    }
}

/// Successful validations: each request spends the oldest usable step of the next token.
struct Successes<'a> {
    pub(crate) cursors: Vec<Cursor<'a>>,
    pub(crate) at: usize,
    /// (cursor, step, our step at sending) of the request in flight.
    pub(crate) pending: Option<(usize, i64, i64)>,
}

impl<'a> Successes<'a> {
    pub(crate) fn new(plan: &'a Plan<'a>, w: usize) -> Successes<'a> {
        let cursors = plan
            .share(w)
            .map(|token| Cursor {
                token,
                codes: Codes::new(&token.seed, plan.seconds),
                next: token.activated_step + 1,
                drift: 0,
            })
            .collect();
        Successes {
            cursors,
            at: 0,
            pending: None,
        }
    }
}

impl Workload for Successes<'_> {
    fn next(&mut self) -> Option<Call> {
        let now = now_step();
        for _ in 0..self.cursors.len() {
            let i = self.at;
            self.at = (self.at + 1) % self.cursors.len();
            let cursor = &mut self.cursors[i];
            if let Some(step) = cursor.pick(now) {
                cursor.next = step + 1;
                self.pending = Some((i, step, now));
                let code = code_text(cursor.codes.at(step));
                let body = json!({"UsrName": cursor.token.usr, "Code": code});
                return Some(Call::post("/api/v1/validate", &body));
            }
        }
        None
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        let Some((i, step, now)) = self.pending.take() else {
            return Err("no request in flight".to_owned());
        };
        let cursor = &mut self.cursors[i];
        let right = answer["RsStat"] == "Success" && answer["TokenId"] == cursor.token.id.as_str();
        if right {
            cursor.drift = step - now;
            return Ok(());
        }
        Err(format!(
            "expected Success for {} at step now{:+} (activation now{:+}, drift {})",
            cursor.token.id,
            step - now,
            cursor.token.activated_step - now,
            cursor.drift
        ))
    }
}

/// Validations with a wrong code, round-robin over the connection's tokens, at most
/// `LOCK_AFTER_FAILURES - 1` per token so none locks.
pub(crate) struct Failures<'a> {
    pub(crate) targets: Vec<(&'a BenchToken, String)>,
    pub(crate) at: usize,
    pub(crate) rounds: usize,
}

impl<'a> Failures<'a> {
    pub(crate) fn new(plan: &'a Plan<'a>, w: usize) -> Failures<'a> {
        let targets = plan
            .share(w)
            .map(|t| (t, code_text(wrong_code(&Codes::new(&t.seed, plan.seconds)))))
            .collect();
        Failures {
            targets,
            at: 0,
            rounds: 0,
        }
    }
}

/// A code that matches none of the steps the server may search during the run.
fn wrong_code(codes: &Codes) -> u32 {
    let mut candidate = (codes.at(codes.base) + 500_000) % 1_000_000;
    while codes.table.contains(&candidate) {
        candidate = (candidate + 7_919) % 1_000_000;
    }
    candidate
}

impl Workload for Failures<'_> {
    fn next(&mut self) -> Option<Call> {
        if self.at == self.targets.len() {
            self.at = 0;
            self.rounds += 1;
        }
        if self.rounds >= LOCK_AFTER_FAILURES - 1 {
            return None;
        }
        let (token, code) = self.targets.get(self.at)?;
        self.at += 1;
        let body = json!({"UsrName": token.usr, "Code": code});
        Some(Call::post("/api/v1/validate", &body))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        expect(answer["RsStat"] == "Failed", "RsStat Failed")
    }
}

/// ReadOnly inquiries round-robin over the connection's tokens.
struct Inquiries<'a> {
    pub(crate) tokens: Vec<&'a BenchToken>,
    pub(crate) at: usize,
}

impl Workload for Inquiries<'_> {
    fn next(&mut self) -> Option<Call> {
        self.at = (self.at + 1) % self.tokens.len().max(1);
        let token = self.tokens.get(self.at)?;
        let body = json!({"TokenId": token.id, "ActIntent": "ReadOnly"});
        Some(Call::post("/api/v1/inquiry", &body))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        let right = self
            .tokens
            .get(self.at)
            .is_some_and(|t| answer["TokenId"] == t.id.as_str());
        expect(right, "the TokenId asked about")
    }
}

/// Enrollments of new hardware tokens, each for a new user, with fresh random seeds.
struct Enrollments {
    pub(crate) worker: usize,
    pub(crate) count: usize,
    pub(crate) rng: SystemRandom,
    pub(crate) expected: String,
}

impl Workload for Enrollments {
    fn next(&mut self) -> Option<Call> {
        self.count += 1;
        let seed = random_seed(&self.rng).ok()?;
        self.expected = format!("NEW-{:02}-{:07}", self.worker, self.count);
        let usr = format!("new-user-{:02}-{:07}", self.worker, self.count);
        Some(enroll_call(&usr, &self.expected, &seed))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        let right = answer["TokenId"] == self.expected.as_str() && answer["UsrTokenStat"] == "Init";
        expect(right, &format!("{} in Init", self.expected))
    }
}

fn expect(right: bool, what: &str) -> Result<(), String> {
    if right {
        Ok(())
    } else {
        Err(format!("expected {what}"))
    }
}
