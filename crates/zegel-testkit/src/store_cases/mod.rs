//! The behaviour every `Store` backend must show: one private `async fn case_*` per behaviour,
//! in the module of the `Store` section trait it is about, registered in that module's
//! `CASES`. A case that is not registered is dead code, so `cargo clippy -D warnings` fails:
//! a case cannot be forgotten. `tests/store_suite.rs` runs every case of [`all`] on SQLite
//! and on PostgreSQL.
//!
//! Cases panic on failure (they are test bodies); each starts from an empty, migrated store.

use std::future::Future;
use std::pin::Pin;
use zegel_core::DynStore;

/// Registers a case fn of this folder under its own name.
macro_rules! case {
    ($case:ident) => {
        super::Case {
            name: stringify!($case),
            run: |store| Box::pin($case(store)),
        }
    };
}

mod access;
mod accounts;
mod audit;
mod codes;
mod conversations;
mod devices;
mod jobs;
mod keys;
mod mail;
mod messages;
mod meta;
mod policy;
mod sender_sessions;
mod sending;
mod signin;
mod signing;
mod support;
mod tracking;

/// What a case returns.
type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One store case.
#[derive(Clone, Copy)]
pub struct Case {
    /// The case fn's name, `case_*`.
    pub name: &'static str,
    run: fn(DynStore) -> CaseFuture,
}

impl Case {
    /// Runs the case on `store` (a fresh, migrated store); panics when the store fails it.
    pub async fn run(&self, store: DynStore) {
        (self.run)(store).await;
    }
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

/// Every case, section by section (in the order of the `Store` trait's sections).
pub fn all() -> Vec<Case> {
    [
        meta::CASES,
        accounts::CASES,
        messages::CASES,
        access::CASES,
        codes::CASES,
        conversations::CASES,
        policy::CASES,
        devices::CASES,
        jobs::CASES,
        signin::CASES,
        sender_sessions::CASES,
        sending::CASES,
        tracking::CASES,
        keys::CASES,
        audit::CASES,
        signing::CASES,
        mail::CASES,
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn case_names_are_unique_and_say_case() {
        let all = super::all();
        let names: HashSet<&str> = all.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), all.len(), "two cases share a name");
        assert!(all.iter().all(|c| c.name.starts_with("case_")));
    }
}
