//! The outer ring of PIKA Memory: configuration, the HTTP API and the command line that wire
//! the write side, the read side and the worker together.

mod app;
mod auth;
mod backend;
pub mod cli;
mod commits;
pub mod config;
mod extract;
mod http_metrics;
mod job_redispatch;
mod openapi;
mod problem;
pub mod rate_limit;
mod read_your_writes;
mod request_id;
mod retention;
mod routes;
mod schemas;
mod state;
mod telemetry;
mod ui;

pub use app::{Application, Roles};
pub use config::Config;
