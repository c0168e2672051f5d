pub mod extractions;
pub mod facts;
pub mod health;
pub mod metrics;
pub mod search;
