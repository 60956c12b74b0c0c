//! One module per area; each test runs in its own process under nextest,
//! with its own TOOLGATE_HOME.

mod approve;
mod audit;
mod audit_upload;
mod cli;
mod faults;
mod lifecycle;
mod listen;
mod lists;
mod node;
mod oauth;
mod policy;
mod profile;
mod progress;
mod protocol;
mod relay;
mod scan;
mod secrets;
mod tools;
