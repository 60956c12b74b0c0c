//! toolgate: one governed MCP server for every IDE.
//!
//! The binary is a thin shell over this library so that tests can drive every
//! part of it. The request path reads straight down: [`proxy`] (the
//! downstream stdio server) -> [`proxy::names`] (which upstream, which tool)
//! -> [`upstream`] (the MCP client of each upstream server) -> back.
//!
//! stdout belongs to the MCP protocol in `serve`: nothing in this crate prints
//! to it except the protocol writer and the listing commands' data output.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod approve;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod config;
pub mod error;
pub mod events;
pub mod jsonrpc;
pub mod logging;
pub mod policy;
pub mod profile;
pub mod progress;
pub mod proxy;
pub mod secrets;
pub mod store;
pub mod upstream;
pub mod util;
pub mod wire;
