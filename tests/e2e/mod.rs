//! One module per area; each test runs in its own process under nextest,
//! with its own TOOLGATE_HOME.

mod approve;
mod audit;
mod audit_upload;
mod cli;
mod faults;
mod install;
mod lifecycle;
mod listen;
mod lists;
mod node;
mod oauth;
mod policy;
mod profile;
mod progress;
mod protocol;
mod reference;
mod relay;
mod scan;
mod secrets;
mod tools;
