//! berth's integration tests: the real binary, fresh temp roots per test.

mod apps;
mod cli;
mod config;
mod crash;
mod deploy;
mod docker_options;
mod domains;
mod faults;
mod git_sources;
mod harness;
mod letsencrypt;
mod nginx;
mod plugins;
mod ports;
mod proxy;
mod routing;
mod security;
mod snapshots;
mod source;
mod ssh;
mod ssh_deploy;
mod ssh_keys;
mod ssh_limits;
mod ssh_server;
mod storage;
mod tls;
