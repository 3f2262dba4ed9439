//! Token-bucket rate limits keyed by client IP or account, answering `M_LIMIT_EXCEEDED` with
//! `retry_after_ms`.

use std::{hash::Hash, net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};
use myelin_core::{
    Error,
    config::{Bucket, RateLimitConfig},
};

pub struct Limiter<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(enabled: bool, bucket: Bucket) -> Self {
        let limiter = enabled.then(|| {
            let burst = NonZeroU32::new(bucket.burst).unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs_f64(1.0 / bucket.per_second);
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(burst))
                .allow_burst(burst);
            RateLimiter::keyed(quota)
        });
        Self { limiter }
    }

    /// Takes one token for `key`, or says how long to wait.
    pub fn check(&self, key: &K) -> Result<(), Error> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::LimitExceeded {
                retry_after_ms: wait.as_millis().max(1) as u64,
            }
        })
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

/// All limits of one server.
pub struct RateLimits {
    pub login_per_ip: Limiter<IpAddr>,
    pub login_per_account: Limiter<String>,
    pub registration_per_ip: Limiter<IpAddr>,
    pub messages_per_user: Limiter<String>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            login_per_ip: Limiter::new(config.enabled, config.login_per_ip),
            login_per_account: Limiter::new(config.enabled, config.login_per_account),
            registration_per_ip: Limiter::new(config.enabled, config.registration_per_ip),
            messages_per_user: Limiter::new(config.enabled, config.messages_per_user),
        }
    }

    /// Drops the state of keys whose buckets are full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.login_per_ip.forget_idle();
        self.login_per_account.forget_idle();
        self.registration_per_ip.forget_idle();
        self.messages_per_user.forget_idle();
    }
}
