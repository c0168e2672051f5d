//! The query side: search and favourites through the cache chain. It belongs to the read
//! side (it reads only through the `ReadStore` port and caches what it read), so `api/`
//! stays HTTP only.
//!
//! L0 is an in-process moka cache, L1 Redis; both are keyed by the user's generation (bumped
//! by the cache-invalidation projection whenever the user's facts change) and a global epoch
//! (bumped after any Redis outage), read from Redis in one round trip before every lookup. So
//! an entry can only be found while it is current: a changed user's old entries become
//! unreachable rather than needing to be found and deleted. When Redis cannot be reached the
//! generation cannot be checked, so neither cache is trusted and answers come from Postgres.
//! L3 caches query vectors in Redis; L4 ranks the user's facts (see
//! `crate::search`).

pub mod cache;
pub mod invalidation;
pub mod service;
