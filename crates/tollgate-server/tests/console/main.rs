//! Browser tests of the web console: a headless Chromium, driven over the DevTools protocol by
//! [`browser`], against servers on port 0. Without Chromium they skip, except under `CI=true`.
//! Screenshots land in `target/console-screenshots/`.

#![forbid(unsafe_code)]

mod accounts;
mod browser;
mod harness;
mod logs;
mod operate;
mod overview;
mod receipts;
mod support;
