//! The robots' published rate limits, kept per robot with a sliding window: WeCom and DingTalk take
//! 20 messages a minute per robot, Feishu 100 a minute and 5 a second. A send waits until its robot
//! has room, so a round never provokes a rate-limit refusal by itself (several hub processes each
//! keep their own window; a refusal then is retried with backoff).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::WebhookKind;

/// (messages, per window) pairs a robot of `kind` is held to.
pub fn limits(kind: WebhookKind) -> &'static [(usize, Duration)] {
    const MINUTE: Duration = Duration::from_secs(60);
    const SECOND: Duration = Duration::from_secs(1);
    const TWENTY_A_MINUTE: &[(usize, Duration)] = &[(20, MINUTE)];
    const FEISHU: &[(usize, Duration)] = &[(100, MINUTE), (5, SECOND)];
    match kind {
        WebhookKind::Wecom | WebhookKind::Dingtalk => TWENTY_A_MINUTE,
        WebhookKind::Feishu => FEISHU,
        WebhookKind::Json => &[],
    }
}

/// The sends of one robot within the longest window, oldest first.
#[derive(Default)]
struct Window {
    sent: VecDeque<Instant>,
}

impl Window {
    /// How long until one more send keeps every limit; `None`: now (and it is counted).
    fn take(&mut self, limits: &[(usize, Duration)], now: Instant) -> Option<Duration> {
        let longest = limits.iter().map(|(_, w)| *w).max().unwrap_or_default();
        while self.sent.front().is_some_and(|t| now - *t >= longest) {
            self.sent.pop_front();
        }
        let mut wait = Duration::ZERO;
        for (n, window) in limits {
            let inside: Vec<&Instant> = self.sent.iter().filter(|t| now - **t < *window).collect();
            if inside.len() >= *n {
                // Room when the oldest send that keeps the window full leaves it.
                let oldest = *inside[inside.len() - n];
                wait = wait.max(*window - (now - oldest));
            }
        }
        if wait.is_zero() {
            self.sent.push_back(now);
            None
        } else {
            Some(wait)
        }
    }
}

/// Every robot's window, by kind and URL.
#[derive(Default, Clone)]
pub struct Limits {
    robots: Arc<Mutex<HashMap<(WebhookKind, String), Window>>>,
}

impl Limits {
    /// Waits until the robot at `url` may take one more message, and counts it.
    pub async fn acquire(&self, kind: WebhookKind, url: &str) {
        let limits = limits(kind);
        if limits.is_empty() {
            return;
        }
        loop {
            let wait = {
                let mut robots = self
                    .robots
                    .lock()
                    .expect("the limits lock is never poisoned");
                robots
                    .entry((kind, url.to_string()))
                    .or_default()
                    .take(limits, Instant::now())
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wecom_robot_gets_twenty_a_minute_and_the_21st_waits_for_the_window() {
        let l = Limits::default();
        let start = Instant::now();
        for _ in 0..20 {
            l.acquire(WebhookKind::Wecom, "u").await;
        }
        assert_eq!(Instant::now() - start, Duration::ZERO);
        l.acquire(WebhookKind::Wecom, "u").await;
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
        // Another robot has its own window.
        let before = Instant::now();
        l.acquire(WebhookKind::Wecom, "v").await;
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn feishu_keeps_five_a_second_and_a_hundred_a_minute() {
        let l = Limits::default();
        let start = Instant::now();
        let mut times = vec![];
        for _ in 0..101 {
            l.acquire(WebhookKind::Feishu, "f").await;
            times.push(Instant::now() - start);
        }
        for (i, t) in times.iter().enumerate() {
            // Never more than 5 within any second, never more than 100 within any minute.
            let in_second = times
                .iter()
                .filter(|u| **u >= *t && **u - *t < Duration::from_secs(1))
                .count();
            assert!(
                in_second <= 5,
                "send {i} at {t:?}: {in_second} in one second"
            );
        }
        assert_eq!(times[5], Duration::from_secs(1));
        assert!(times[100] >= Duration::from_secs(60), "{:?}", times[100]);
    }
}
