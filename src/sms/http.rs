//! The `http` SMS provider and the event webhook: a JSON POST with an optional bearer
//! token and a hard timeout (a provider that hangs costs one attempt, never a thread).

use serde::Serialize;
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

use super::SmsProvider;
use crate::types::PhoneNum;

/// Where and how to POST. The token is redacted in `Debug`.
#[derive(Clone)]
pub struct HttpTarget {
    url: String,
    token: Option<Zeroizing<String>>,
    agent: ureq::Agent,
}

impl fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HttpTarget({}, token: {})",
            self.url,
            if self.token.is_some() { "set" } else { "none" }
        )
    }
}

impl HttpTarget {
    /// A target with a bearer token (optional) and a timeout for the whole exchange.
    pub fn new(url: &str, token: Option<&str>, timeout: Duration) -> HttpTarget {
        HttpTarget {
            url: url.to_owned(),
            token: token.map(|t| Zeroizing::new(t.to_owned())),
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .redirects(0)
                .build(),
        }
    }

    /// POSTs `body` as JSON; a 2xx answer is success, anything else a failure saying why
    /// (never echoing the body or the token).
    pub fn post_json<T: Serialize>(&self, body: &T) -> Result<String, String> {
        let mut rq = self.agent.post(&self.url);
        if let Some(token) = &self.token {
            rq = rq.set("Authorization", &format!("Bearer {}", token.as_str()));
        }
        let json = serde_json::to_value(body).map_err(|e| format!("cannot encode: {e}"))?;
        match rq.send_json(json) {
            Ok(rs) => Ok(format!("HTTP {}", rs.status())),
            Err(ureq::Error::Status(code, _)) => Err(format!("HTTP {code}")),
            Err(ureq::Error::Transport(t)) => Err(format!("transport: {}", t.kind())),
        }
    }
}

#[derive(Serialize)]
struct SmsBody<'a> {
    to: &'a str,
    body: &'a str,
}

/// The `http` provider: `{"to": "4175556652", "body": "..."}` to `sms_http_url`.
#[derive(Debug, Clone)]
pub struct HttpSms {
    target: HttpTarget,
}

impl HttpSms {
    /// The provider posting to `target`.
    pub fn new(target: HttpTarget) -> HttpSms {
        HttpSms { target }
    }
}

impl SmsProvider for HttpSms {
    fn deliver(&self, to: &PhoneNum, body: &str) -> Result<String, String> {
        self.target.post_json(&SmsBody {
            to: to.as_str(),
            body,
        })
    }
}
