//! Per-tenant request limits: a rate (a token bucket, `governor`) and a number of requests in
//! flight. A tenant over either gets `429 Too Many Requests` with `Retry-After` and nothing
//! changes. Limits are kept per tenant rather than per key so that a tenant cannot raise its
//! share by creating more keys; every key of a tenant draws on the same allowance. Requests
//! without a valid key pass through to be refused by the handler (401), and the probes,
//! metrics and docs are never limited.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use pika_domain::TenantId;
use tokio::sync::Semaphore;

use crate::problem::ApiError;
use crate::state::AppState;

/// Requests allowed per period, with a burst of one period's worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    /// Reads `100/s` or `6000/min`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a rate like 100/s or 6000/min");
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let requests = count.trim().parse::<NonZeroU32>().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "min" => Duration::from_secs(60),
            _ => return Err(bad()),
        };
        Ok(Self { requests, per })
    }

    fn quota(self) -> Quota {
        let interval = self.per / self.requests.get();
        Quota::with_period(interval.max(Duration::from_nanos(1)))
            .expect("a period above zero")
            .allow_burst(self.requests)
    }
}

/// The limits an operator configured; a tenant without an entry of its own gets `rate`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub rate: Option<Rate>,
    pub per_tenant: HashMap<String, Rate>,
    pub in_flight: Option<NonZeroU32>,
}

impl RateLimits {
    /// Reads `acme=50/s,beta=6000/min`.
    pub fn parse_per_tenant(text: &str) -> Result<HashMap<String, Rate>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (tenant, rate) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair:?} is not tenant=rate, like acme=50/s"))?;
                let tenant = TenantId::parse(tenant.trim())
                    .map_err(|e| format!("{:?}: {e}", tenant.trim()))?;
                Ok((tenant.to_string(), Rate::parse(rate)?))
            })
            .collect()
    }

    fn is_off(&self) -> bool {
        self.rate.is_none() && self.per_tenant.is_empty() && self.in_flight.is_none()
    }
}

/// One tenant's allowance.
#[derive(Debug)]
struct Allowance {
    rate: Option<DefaultDirectRateLimiter>,
    in_flight: Option<Arc<Semaphore>>,
}

/// The live limiters, one allowance per tenant seen.
#[derive(Debug)]
pub struct RequestLimiter {
    limits: RateLimits,
    allowances: Mutex<HashMap<TenantId, Arc<Allowance>>>,
}

impl RequestLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            allowances: Mutex::new(HashMap::new()),
        }
    }

    fn allowance(&self, tenant: &TenantId) -> Arc<Allowance> {
        let mut allowances = self
            .allowances
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        allowances
            .entry(tenant.clone())
            .or_insert_with(|| {
                let rate = self
                    .limits
                    .per_tenant
                    .get(tenant.as_str())
                    .copied()
                    .or(self.limits.rate);
                Arc::new(Allowance {
                    rate: rate.map(|rate| RateLimiter::direct(rate.quota())),
                    in_flight: self
                        .limits
                        .in_flight
                        .map(|n| Arc::new(Semaphore::new(n.get() as usize))),
                })
            })
            .clone()
    }
}

/// The middleware: admits the request or answers 429.
pub async fn limit_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limiter = &state.request_limiter;
    if limiter.limits.is_off() {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Ok(tenant) = state.api_keys.tenant_for(header) else {
        return next.run(request).await;
    };
    let allowance = limiter.allowance(&tenant);
    if let Some(rate) = &allowance.rate
        && let Err(not_until) = rate.check()
    {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return too_many(&tenant, "rate", wait);
    }
    let _permit = match &allowance.in_flight {
        Some(in_flight) => match in_flight.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return too_many(&tenant, "in_flight", Duration::from_secs(1)),
        },
        None => None,
    };
    next.run(request).await
}

fn too_many(tenant: &TenantId, limit: &'static str, wait: Duration) -> Response {
    metrics::counter!("pika_requests_limited_total", "limit" => limit).increment(1);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let detail = match limit {
        "rate" => format!("tenant {tenant} is over its request rate; retry in {seconds} s"),
        _ => format!("tenant {tenant} has too many requests in flight; retry in {seconds} s"),
    };
    let mut response = ApiError::TooManyRequests(detail).into_response();
    response.headers_mut().insert(
        RETRY_AFTER,
        HeaderValue::from_str(&seconds.to_string()).expect("digits"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_per_tenant_rates_are_read_or_refused_with_the_reason() {
        let rate = Rate::parse("100/s").unwrap();
        assert_eq!(rate.requests.get(), 100);
        assert_eq!(rate.per, Duration::from_secs(1));
        assert_eq!(
            Rate::parse(" 6000/min ").unwrap().per,
            Duration::from_secs(60)
        );
        for bad in ["", "100", "0/s", "-1/s", "10/h", "ten/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?}");
        }
        let tenants = RateLimits::parse_per_tenant("acme=50/s, beta=6000/min").unwrap();
        assert_eq!(tenants["acme"].requests.get(), 50);
        assert_eq!(tenants["beta"].per, Duration::from_secs(60));
        assert!(RateLimits::parse_per_tenant("acme").is_err());
        assert!(RateLimits::parse_per_tenant("Bad Tenant=5/s").is_err());
    }

    #[test]
    fn a_tenant_gets_its_own_rate_and_others_the_default() {
        let limiter = RequestLimiter::new(RateLimits {
            rate: Some(Rate::parse("2/min").unwrap()),
            per_tenant: RateLimits::parse_per_tenant("acme=5/min").unwrap(),
            in_flight: None,
        });
        let admitted = |tenant: &str| {
            let allowance = limiter.allowance(&TenantId::parse(tenant).unwrap());
            let rate = allowance.rate.as_ref().unwrap();
            (0..10).filter(|_| rate.check().is_ok()).count()
        };
        assert_eq!(admitted("acme"), 5);
        assert_eq!(admitted("other"), 2);
    }
}
