pub mod facts;
pub mod health;
pub mod extractions;
pub mod metrics;
pub mod search;
