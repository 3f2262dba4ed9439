//! `myelin-appservices`: the application-service API (registrations, transactions to bridges,
//! masquerading). Its work is the application-services issue; the crate exists now so that the
//! layout and the dependency rules of ARCHITECTURE.md hold from the first commit.
#![forbid(unsafe_code)]
