// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! The SQL both stores share, compiled inside each store crate against that crate's
//! `crate::db` (`Db`, `Conn`, `DbRow`, `DbStore`, `db_err`, and the few statements whose text
//! differs). Each section of `zegel_core::Store` has its own file; where a backend does a
//! method its own way, the section calls `crate::per_backend::<method>` by name.

pub(crate) mod access;
pub(crate) mod audit;
pub(crate) mod coalesce;
pub(crate) mod loads;
pub(crate) mod rows;
pub(crate) mod sending;
pub(crate) mod write;

mod accounts;
mod conversations;
mod devices;
mod jobs;
mod keys;
mod mail;
mod messages;
mod meta;
mod policy;
mod sender_sessions;
mod signin;
mod signing;
mod tracking;

/// What every stamped file uses.
mod prelude {
    pub(crate) use super::limit;
    pub(crate) use super::rows;
    pub(crate) use super::write::*;
    pub(crate) use crate::db::{self, db_err, DbStore};
    pub(crate) use crate::per_backend;
    pub(crate) use async_trait::async_trait;
    pub(crate) use sqlx::Row;
    pub(crate) use zegel_core::codes::*;
    pub(crate) use zegel_core::model::*;
    pub(crate) use zegel_core::store::*;
    pub(crate) use zegel_core::{StoreError, StoreResult};
    pub(crate) use zegel_store_sql::*;
}

/// A `LIMIT` bind.
pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n)
}
