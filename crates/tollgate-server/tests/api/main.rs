//! HTTP tests: a real server on an ephemeral port, over a real socket, on SQLite and (when
//! `TOLLGATE_TEST_DATABASE_URL` is set) PostgreSQL.

mod auth;
mod authorize;
mod billing;
mod connections;
mod conversation_routes;
mod conversations;
mod costs;
mod default_plan;
mod export;
mod hardening;
mod ingest;
mod jwt;
mod llmring;
mod llmring_cli;
mod llmring_fields;
mod openapi;
mod plans;
mod raw;
mod reads;
mod receipt_labels;
mod receipts;
mod registry;
mod scopes;
mod slashes;
mod slow_readers;
mod strict_fields;
mod support;
mod tool_calls;
mod webhook_alerts;
mod webhook_egress;
mod webhooks;
mod wire;
