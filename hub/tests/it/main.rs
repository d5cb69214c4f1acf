//! The hub's integration tests, one binary (one link) with a module per area: the intake's group
//! commit, the PKI commands, range rollups, serving over mutual TLS, and the module structure.

mod channels;
mod dashboard;
mod door;
mod enrol;
mod fakes;
mod identity;
mod in_process;
mod ingest;
mod joint;
mod official;
mod perimeter;
mod pki;
mod prune;
mod ranges;
mod rollover;
mod serve;
mod signed;
mod strict;
mod structure;
