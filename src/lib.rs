//! berth: a Dokku-compatible platform-as-a-service.
//!
//! See ARCHITECTURE.md for the map of this crate.

/// The Dokku release whose interface berth matches.
pub const DOKKU_VERSION: &str = "0.38.27";

pub mod access;
pub mod acme;
pub mod app_name;
pub mod app_network;
pub mod archive;
pub mod args;
pub mod audit;
pub mod authorized_keys;
pub mod bounded;
pub mod build_record;
pub mod caller;
pub mod cli;
pub mod commands;
pub mod container_spec;
pub mod context;
pub mod docker_args;
pub mod dokku_commands;
pub mod dotenv;
pub mod dynos;
pub mod engine;
pub mod error;
pub mod external;
pub mod fetch;
pub mod help;
pub mod host_path;
pub mod nginx;
pub mod one_off;
pub mod output;
pub mod plugins;
pub mod procfile;
pub mod property_set;
pub mod release_files;
pub mod repo;
pub mod report;
pub mod runtime_dir;
pub mod server;
pub mod shell;
pub mod store;
pub mod tls;
pub mod trigger;
pub mod words;
