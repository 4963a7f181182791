//! The store contract: the same stories on every engine (SQLite always, PostgreSQL when
//! `TOLLGATE_TEST_DATABASE_URL` is set; CI sets it).

mod account_list;
mod adjustments;
mod append;
mod billing;
mod concurrency;
mod conversation_writes;
mod conversations;
mod dimensions;
mod executions;
mod mcp;
mod migrations;
mod plans;
mod prices;
mod reads;
mod receipts;
mod retention;
mod support;
mod tenants;
mod webhooks;
