//! The ingest's rate limits, with governor's keyed GCRA buckets: first per client address, checked
//! before the request's body is read (so a flood costs no parsing, and a sender cannot get a fresh
//! burst by changing the client id in its events), then per client id, after parsing (one id
//! spread over many addresses). Behind a load balancer the address is the one the trusted proxies
//! name in `X-Forwarded-For`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

/// Most keys a limiter keeps before the idle ones are dropped.
const MAX_KEYS: usize = 100_000;

/// The two limits, or none (rate 0).
pub struct RateLimiter {
    limits: Option<(DefaultKeyedRateLimiter<IpAddr>, DefaultKeyedRateLimiter<String>)>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// `rate` requests a second per key, bursts of `burst`; a rate of 0 (or not a number) disables
    /// both limits.
    pub fn new(rate: f64, burst: f64) -> Self {
        let quota = (rate.is_finite() && rate > 0.0)
            .then(|| Quota::with_period(Duration::from_secs_f64(1.0 / rate)))
            .flatten()
            .map(|q| {
                q.allow_burst(NonZeroU32::new(burst.clamp(1.0, u32::MAX as f64) as u32).unwrap_or(NonZeroU32::MIN))
            });
        Self {
            limits: quota.map(|q| (governor::RateLimiter::keyed(q), governor::RateLimiter::keyed(q))),
            clock: DefaultClock::default(),
        }
    }

    /// Takes a token for the address: `Ok`, or how long until the next one.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Duration> {
        let Some((by_address, _)) = &self.limits else {
            return Ok(());
        };
        if by_address.len() > MAX_KEYS {
            by_address.retain_recent();
        }
        by_address
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Takes a token for the client id: `Ok`, or how long until the next one.
    pub fn check_client(&self, client: &str) -> Result<(), Duration> {
        let Some((_, by_client)) = &self.limits else {
            return Ok(());
        };
        if by_client.len() > MAX_KEYS {
            by_client.retain_recent();
        }
        by_client
            .check_key(&client.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The sender's address: the peer's, unless the peer is a trusted proxy; then, walking
/// `X-Forwarded-For` from its right end (the entry the nearest proxy added), the first address
/// that is not a trusted proxy. A header that cannot be read stops the walk at the last address
/// known.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut address = peer;
    for hop in hops.iter().rev() {
        if !is_trusted(&address) {
            break;
        }
        match hop.parse::<IpAddr>() {
            Ok(ip) => address = ip,
            Err(_) => break,
        }
    }
    address
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(10.0, 3.0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..3).all(|_| limiter.check_address(a).is_ok()));
        let wait = limiter.check_address(a).unwrap_err();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(
            limiter.check_address("10.0.0.2".parse().unwrap()).is_ok(),
            "addresses are independent"
        );
        assert!((0..3).all(|_| limiter.check_client("x").is_ok()));
        assert!(limiter.check_client("x").is_err());
        let off = RateLimiter::new(0.0, 1.0);
        assert!((0..1000).all(|_| off.check_address(a).is_ok() && off.check_client("x").is_ok()));
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let headers = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", value.parse().unwrap());
            h
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // a direct sender's header is ignored: it could say anything
        assert_eq!(
            client_address(ip("203.0.113.9"), &headers("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // behind the balancer: the address it saw
        assert_eq!(
            client_address(ip("10.1.2.3"), &headers("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // a forged left part is skipped: the rightmost untrusted hop counts
        assert_eq!(
            client_address(ip("10.1.2.3"), &headers("1.2.3.4, 198.51.100.7, 10.9.9.9"), &trusted),
            ip("198.51.100.7")
        );
        // unreadable: the last address known
        assert_eq!(
            client_address(ip("10.1.2.3"), &headers("garbage"), &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(client_address(ip("::1"), &HeaderMap::new(), &trusted), ip("::1"));
        assert_eq!(
            client_address(ip("10.1.2.3"), &headers("2001:db8::1"), &[]),
            ip("10.1.2.3")
        );
    }
}
