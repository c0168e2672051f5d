pub mod episodes;
pub mod extractions;
pub mod fact_commands;
pub mod facts;
pub mod health;
pub mod mem0;
pub mod metrics;
pub mod search;
