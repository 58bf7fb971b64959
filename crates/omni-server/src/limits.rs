//! Brute-force limits on the auth routes: per client address on login and registration
//! (GCRA, governor), and an exponential back-off per (e-mail, client) after failed logins.
//! In memory, per instance. Client addresses are keyed as [`crate::client_addr::limit_key`]
//! makes them (an IPv6 client by its /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitsConfig;
use crate::error::ApiError;

/// The limiters; a limit of 0 is off.
pub struct AuthLimits {
    login_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    login_backoff: LoginBackoff,
    register_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    api_user: Option<DefaultKeyedRateLimiter<i64>>,
    webhook_integration: Option<DefaultKeyedRateLimiter<i64>>,
    invalid_webhook_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(
    n: u32,
    per: fn(NonZeroU32) -> Quota,
) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(n).map(|n| RateLimiter::keyed(per(n)))
}

impl AuthLimits {
    /// Limiters with the configured quotas.
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            login_ip: keyed(config.login_per_minute_per_ip, Quota::per_minute),
            login_backoff: LoginBackoff::new(config.login_free_failures, config.login_max_backoff),
            register_ip: keyed(config.register_per_hour_per_ip, Quota::per_hour),
            api_user: keyed(config.api_per_minute_per_user, Quota::per_minute),
            webhook_integration: keyed(
                config.webhooks_per_minute_per_integration,
                Quota::per_minute,
            ),
            invalid_webhook_ip: keyed(config.invalid_webhooks_per_minute_per_ip, Quota::per_minute),
            clock: DefaultClock::default(),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: Option<&DefaultKeyedRateLimiter<K>>,
        key: &K,
    ) -> Result<(), ApiError> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(self.clock.now());
            ApiError::TooManyRequests(wait.as_secs().max(1))
        })
    }

    /// May `ip` try a password for `email` now? Counted against the address's budget, and
    /// refused while this (e-mail, client) pair is backing off after failures.
    pub fn login(&self, ip: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            self.check(self.login_ip.as_ref(), &ip)?;
        }
        self.login_backoff.check(ip, email)
    }

    /// A wrong password (or unknown e-mail) from `ip` for `email`.
    pub fn login_failed(&self, ip: Option<IpAddr>, email: &str) {
        self.login_backoff.failed(ip, email);
    }

    /// A successful login: the pair's failures are forgotten.
    pub fn login_succeeded(&self, ip: Option<IpAddr>, email: &str) {
        self.login_backoff.succeeded(ip, email);
    }

    /// One registration from `ip`.
    pub fn register(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match ip {
            Some(ip) => self.check(self.register_ip.as_ref(), &ip),
            None => Ok(()),
        }
    }

    /// One authenticated API request of `user`.
    pub fn api(&self, user: i64) -> Result<(), ApiError> {
        self.check(self.api_user.as_ref(), &user)
    }

    /// One webhook for `integration`.
    pub fn webhook(&self, integration: i64) -> Result<(), ApiError> {
        self.check(self.webhook_integration.as_ref(), &integration)
    }

    /// One webhook from `ip` that failed the signature check or named no number we host;
    /// past the budget the answer is 429 instead of 403. Valid webhooks never spend it, so
    /// forgeries cannot crowd out Twilio's real deliveries.
    pub fn invalid_webhook(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match ip {
            Some(ip) => self.check(self.invalid_webhook_ip.as_ref(), &ip),
            None => Ok(()),
        }
    }

    /// Drops keys that have recovered their full quota (called periodically), so that
    /// memory follows active attackers, not every address ever seen.
    pub fn shrink(&self) {
        for l in [&self.login_ip, &self.register_ip, &self.invalid_webhook_ip]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
        }
        self.login_backoff.shrink();
        for l in [&self.api_user, &self.webhook_integration]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
        }
    }
}

/// Failed logins per (e-mail, client). After `free` failures each further one doubles the
/// wait, from one second up to `max`. Keyed by the client too, so that an outsider who
/// knows an e-mail address slows only their own guesses, never the owner's login.
struct LoginBackoff {
    free: u32,
    max: Duration,
    pairs: Mutex<HashMap<(String, Option<IpAddr>), Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Instant,
    last: Instant,
}

/// Pairs remembered at most; past it the oldest are forgotten first (the per-address
/// budget still holds each client).
const MAX_PAIRS: usize = 100_000;

impl LoginBackoff {
    fn new(free: u32, max: Duration) -> Self {
        Self {
            free,
            max,
            pairs: Mutex::new(HashMap::new()),
        }
    }

    fn key(ip: Option<IpAddr>, email: &str) -> (String, Option<IpAddr>) {
        (email.trim().to_lowercase(), ip)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Option<IpAddr>), Failures>> {
        self.pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check(&self, ip: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        if self.free == 0 {
            return Ok(());
        }
        let now = Instant::now();
        match self.lock().get(&Self::key(ip, email)) {
            Some(f) if f.until > now => {
                let wait = f.until - now;
                Err(ApiError::TooManyRequests(
                    wait.as_secs_f64().ceil().max(1.0) as u64,
                ))
            }
            _ => Ok(()),
        }
    }

    fn failed(&self, ip: Option<IpAddr>, email: &str) {
        if self.free == 0 {
            return;
        }
        let now = Instant::now();
        let mut pairs = self.lock();
        if pairs.len() >= MAX_PAIRS {
            Self::evict_oldest(&mut pairs);
        }
        let entry = pairs.entry(Self::key(ip, email)).or_insert(Failures {
            count: 0,
            until: now,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= self.free {
            let doublings = (entry.count - self.free).min(30);
            let wait = Duration::from_secs(1u64 << doublings).min(self.max);
            entry.until = now + wait;
        }
    }

    fn succeeded(&self, ip: Option<IpAddr>, email: &str) {
        self.lock().remove(&Self::key(ip, email));
    }

    /// Forgets pairs whose last failure is older than the longest wait.
    fn shrink(&self) {
        let now = Instant::now();
        let max = self.max;
        self.lock()
            .retain(|_, f| f.until > now || now.duration_since(f.last) < max);
    }

    fn evict_oldest(pairs: &mut HashMap<(String, Option<IpAddr>), Failures>) {
        let mut by_age: Vec<Instant> = pairs.values().map(|f| f.last).collect();
        by_age.sort_unstable();
        if let Some(cut) = by_age.get(by_age.len() / 10) {
            let cut = *cut;
            pairs.retain(|_, f| f.last > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_free(free: u32) -> AuthLimits {
        AuthLimits::new(&LimitsConfig {
            login_per_minute_per_ip: 0,
            login_free_failures: free,
            login_max_backoff: Duration::from_secs(900),
            register_per_hour_per_ip: 1,
            api_per_minute_per_user: 2,
            webhooks_per_minute_per_integration: 0,
            invalid_webhooks_per_minute_per_ip: 0,
        })
    }

    #[test]
    fn failures_back_off_per_email_and_client_only() {
        let limits = with_free(3);
        let attacker = Some(IpAddr::from([203, 0, 113, 9]));
        let owner = Some(IpAddr::from([198, 51, 100, 1]));
        for _ in 0..3 {
            assert!(limits.login(attacker, "Ana@acme.test").is_ok());
            limits.login_failed(attacker, "Ana@acme.test");
        }
        match limits.login(attacker, " ana@ACME.test") {
            Err(ApiError::TooManyRequests(secs)) => assert_eq!(secs, 1),
            other => panic!("{other:?}"),
        }
        assert!(
            limits.login(owner, "ana@acme.test").is_ok(),
            "the owner logs in"
        );
        assert!(limits.login(attacker, "bia@acme.test").is_ok());
        // Each further failure doubles the wait.
        for expected in [2, 4, 8] {
            limits.login_failed(attacker, "ana@acme.test");
            match limits.login(attacker, "ana@acme.test") {
                Err(ApiError::TooManyRequests(secs)) => assert_eq!(secs, expected),
                other => panic!("{other:?}"),
            }
        }
        limits.login_succeeded(attacker, "ana@acme.test");
        assert!(limits.login(attacker, "ana@acme.test").is_ok());
    }

    #[test]
    fn the_wait_is_capped_and_zero_switches_it_off() {
        let limits = with_free(1);
        let ip = Some(IpAddr::from([203, 0, 113, 9]));
        for _ in 0..64 {
            limits.login_failed(ip, "ana@acme.test");
        }
        match limits.login(ip, "ana@acme.test") {
            Err(ApiError::TooManyRequests(secs)) => assert_eq!(secs, 900),
            other => panic!("{other:?}"),
        }
        let off = with_free(0);
        for _ in 0..64 {
            off.login_failed(ip, "ana@acme.test");
        }
        assert!(off.login(ip, "ana@acme.test").is_ok());
    }

    #[test]
    fn other_budgets() {
        let limits = with_free(3);
        let ip = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
        assert!(limits.register(ip(1)).is_ok());
        assert!(limits.register(ip(1)).is_err());
        assert!(limits.register(ip(2)).is_ok());
        assert!(limits.api(7).is_ok() && limits.api(7).is_ok());
        assert!(limits.api(7).is_err());
        assert!(limits.api(8).is_ok());
        assert!(
            (0..100).all(|_| limits.webhook(1).is_ok()),
            "0 switches a limit off"
        );
    }
}
