//! imaged's integration tests, one crate (one link of the whole tree
//! instead of one per file), a module per subject. Run on the embedded
//! backends by default; `IMAGED_TEST_BACKENDS=aws` runs them on S3, SQS,
//! SNS (moto) and MySQL (MariaDB), which `scripts/test` does for the
//! modules that depend on the backend set (see `AWS_SUITE` there).

mod common;

mod api;
mod aws;
mod browser;
mod cli;
mod crash;
mod downloads;
mod drain;
mod dropin;
mod embedded;
mod events;
mod fail_once;
mod formats;
mod fuzz_seeds;
mod hardening;
mod jobs;
mod lifecycle;
mod load;
mod notification;
mod outage;
mod phones;
mod prometheus;
mod reconcile;
mod security;
mod stack;
mod systemd;
