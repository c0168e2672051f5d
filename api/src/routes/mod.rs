pub mod facts;
pub mod health;
