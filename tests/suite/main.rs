//! cdlc's end-to-end suite: every test generates its own short media,
//! runs the real `cdlc` binary and checks the output as a player would.

mod accounts;
mod bad_input;
mod booking;
mod captions;
mod catalog;
mod cluster;
mod corpus;
mod cql;
mod crypto;
mod inputs;
mod isolation;
mod languages;
mod refusals;
mod s3;
mod server;
mod social;
mod stills;
mod streaming;
mod support;
mod verify;
