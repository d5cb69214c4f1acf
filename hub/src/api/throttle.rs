//! A per-child rate limit: each org's certificate may make [`BURST`] requests at once and
//! [`PER_SECOND`] a second after that; over it, 429 with `Retry-After`, which a node treats as
//! "try again later" (its outbox keeps the version). A genuine node makes a handful of requests a
//! round; a child sending 200 versions in 3 s is slowed to the rate the hub can check reports at
//! without starving its siblings. Counted per org, so one child cannot spend another's allowance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Peer;
use crate::error::Error;

/// Requests an org may make at once.
pub const BURST: f64 = 120.0;
/// Requests an org may make a second, sustained.
pub const PER_SECOND: f64 = 4.0;

/// Each org's bucket: tokens left and when it was last filled.
#[derive(Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Throttle {
    /// Takes one token for `org`; `Err(seconds)` until the next one when none is left.
    fn take(&self, org: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let (tokens, at) = buckets.entry(org.to_string()).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * PER_SECOND).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / PER_SECOND).ceil() as u64)
        }
    }
}

/// Refuses an org over its allowance with 429 and `Retry-After`.
pub async fn limit(
    State(throttle): State<Arc<Throttle>>,
    Extension(peer): Extension<Peer>,
    req: Request,
    next: Next,
) -> Response {
    let org = peer.org.as_ref().map_or("?", |o| o.as_str());
    match throttle.take(org, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let mut res = Error::TooManyRequests(format!(
                "{org} is over its request rate ({PER_SECOND}/s after {BURST}); retry in {wait} s / 请求过于频繁,请稍后重试"
            ))
            .into_response();
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&wait.to_string()).expect("digits"),
            );
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_the_rate() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..BURST as usize {
            assert!(t.take("H01", now).is_ok());
        }
        assert_eq!(t.take("H01", now), Err(1));
        assert!(
            t.take("H02", now).is_ok(),
            "another org's allowance is its own"
        );
        assert!(t.take("H01", now + Duration::from_millis(300)).is_ok());
    }
}
