//! Token-bucket rate limits keyed by client IP or account, answering `M_LIMIT_EXCEEDED` with
//! `retry_after_ms`.

use std::{collections::HashMap, hash::Hash, net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};
use myelin_core::{
    Error,
    config::{Bucket, RateLimitConfig},
    users::MessageRate,
};
use ruma::{OwnedUserId, UserId};

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
    /// Users with a rate of their own (Synapse's `override_ratelimit`), each with its bucket.
    overridden: std::sync::Mutex<HashMap<OwnedUserId, (MessageRate, Limiter<()>)>>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            login_per_ip: Limiter::new(config.enabled, config.login_per_ip),
            login_per_account: Limiter::new(config.enabled, config.login_per_account),
            registration_per_ip: Limiter::new(config.enabled, config.registration_per_ip),
            messages_per_user: Limiter::new(config.enabled, config.messages_per_user),
            overridden: Default::default(),
        }
    }

    /// Takes one message token for `user_id`: from the user's own bucket when an administrator
    /// gave them a rate (none at all for 0 a second and a burst of 0, as Synapse reads it),
    /// else from the server's.
    pub fn check_message(&self, user_id: &UserId, own: Option<MessageRate>) -> Result<(), Error> {
        let Some(rate) = own else {
            return self.messages_per_user.check(&user_id.to_string());
        };
        if rate.messages_per_second == 0 && rate.burst_count == 0 {
            return Ok(());
        }
        let mut overridden = self
            .overridden
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = overridden
            .entry(user_id.to_owned())
            .or_insert_with(|| (rate, Limiter::new(true, bucket_of(rate))));
        if entry.0 != rate {
            *entry = (rate, Limiter::new(true, bucket_of(rate)));
        }
        entry.1.check(&())
    }

    /// Drops the state of keys whose buckets are full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.login_per_ip.forget_idle();
        self.login_per_account.forget_idle();
        self.registration_per_ip.forget_idle();
        self.messages_per_user.forget_idle();
        for (_, limiter) in self
            .overridden
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
        {
            limiter.forget_idle();
        }
    }
}

/// The bucket of a user's own rate; a rate of 0 a second with a burst allows the burst only
/// now and then (once a day), as close as a token bucket comes to "never refills".
fn bucket_of(rate: MessageRate) -> Bucket {
    Bucket {
        per_second: if rate.messages_per_second == 0 {
            1.0 / 86_400.0
        } else {
            f64::from(rate.messages_per_second)
        },
        burst: rate.burst_count.max(1),
    }
}
