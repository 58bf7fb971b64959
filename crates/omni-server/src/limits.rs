//! Brute-force limits on the auth routes: per IP address and per e-mail on login, per IP
//! address on registration. In memory, per instance (GCRA, governor).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitsConfig;
use crate::error::ApiError;

/// The limiters; a limit of 0 is off.
pub struct AuthLimits {
    login_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    login_email: Option<DefaultKeyedRateLimiter<String>>,
    register_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    api_user: Option<DefaultKeyedRateLimiter<i64>>,
    webhook_integration: Option<DefaultKeyedRateLimiter<i64>>,
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
            login_email: keyed(config.login_per_minute_per_email, Quota::per_minute),
            register_ip: keyed(config.register_per_hour_per_ip, Quota::per_hour),
            api_user: keyed(config.api_per_minute_per_user, Quota::per_minute),
            webhook_integration: keyed(
                config.webhooks_per_minute_per_integration,
                Quota::per_minute,
            ),
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

    /// One login attempt from `ip` for `email`.
    pub fn login(&self, ip: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            self.check(self.login_ip.as_ref(), &ip)?;
        }
        self.check(self.login_email.as_ref(), &email.trim().to_lowercase())
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

    /// Drops keys that have recovered their full quota (called periodically), so that
    /// memory follows active attackers, not every address ever seen.
    pub fn shrink(&self) {
        for l in [&self.login_ip, &self.register_ip].into_iter().flatten() {
            l.retain_recent();
        }
        if let Some(l) = &self.login_email {
            l.retain_recent();
        }
        for l in [&self.api_user, &self.webhook_integration]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_email_limit_holds_whatever_the_address_and_case() {
        let limits = AuthLimits::new(&LimitsConfig {
            login_per_minute_per_ip: 0,
            login_per_minute_per_email: 3,
            register_per_hour_per_ip: 1,
            api_per_minute_per_user: 2,
            webhooks_per_minute_per_integration: 0,
        });
        let ip = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
        for n in 0..3 {
            assert!(limits.login(ip(n), "Ana@acme.test").is_ok());
        }
        match limits.login(ip(9), " ana@ACME.test") {
            Err(ApiError::TooManyRequests(secs)) => assert!((1..=60).contains(&secs)),
            other => panic!("{other:?}"),
        }
        assert!(limits.login(ip(9), "bia@acme.test").is_ok());
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
