#![doc = "Zegel domain: types, services, Store/Blobs/Outbound traits, jobs, errors. No HTTP, no SQL."]
#![forbid(unsafe_code)]

pub mod audit;
pub mod audit_check;
pub mod blobs;
pub mod codes;
pub mod dkim;
pub mod error;
pub mod html;
pub mod i18n;
pub mod jws;
pub mod key_store;
pub mod keys;
pub mod mail_dns;
pub mod mail_store;
pub mod model;
pub mod nta;
pub mod outbound;
pub mod service;
pub mod signin;
pub mod signing;
pub mod sms;
pub mod store;

pub use error::{
    Conflict, Error, GoneReason, Invalid, NotAllowed, Result, StoreError, StoreResult, TooLarge,
};
pub use service::{ClientCtx, Settings, Zegel};
pub use store::{DynStore, Store};
