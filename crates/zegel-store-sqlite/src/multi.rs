//! Several statements with their values, sent to SQLite as one query.
//!
//! sqlx runs each SQLite connection on its own thread: every statement is a hand-off to that
//! thread and back. The group commit ([`crate::batch`]) runs the hot writes one after the
//! other on the writer's connection, so those hand-offs (not SQLite, not the disk) made up
//! most of a batch, and the one writer is what every sender and the job worker wait for. A
//! new message is six statements or more, a sent notification three; as one query each is
//! one hand-off. sqlx's SQLite driver runs every statement of a query and binds `$N` by
//! number across them; the numbers of each added statement are moved past those before it.

use crate::db::db_err;
use crate::shared::write::{Binds, Statements};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Sqlite, SqliteConnection};
use zegel_core::{StoreError, StoreResult};

/// Statements and their values, in order.
pub(crate) struct Multi<'q> {
    sql: String,
    args: SqliteArguments<'q>,
    /// How many values the statements so far take.
    wanted: usize,
    /// How many values were bound.
    bound: usize,
    /// The first thing that went wrong while building (reported when run).
    error: Option<String>,
}

impl<'q> Multi<'q> {
    /// No statements yet.
    pub(crate) fn new() -> Self {
        Multi {
            sql: String::new(),
            args: SqliteArguments::default(),
            wanted: 0,
            bound: 0,
            error: None,
        }
    }

    fn check(&self) -> StoreResult<()> {
        if let Some(e) = &self.error {
            return Err(StoreError::Database(e.clone()));
        }
        if self.bound != self.wanted {
            return Err(StoreError::Database(format!(
                "statements take {} values, {} were bound",
                self.wanted, self.bound
            )));
        }
        Ok(())
    }

    /// Runs every statement; the rows they return (`RETURNING`), in order.
    pub(crate) async fn fetch_all(
        self,
        conn: &mut SqliteConnection,
    ) -> StoreResult<Vec<SqliteRow>> {
        self.check()?;
        sqlx::query_with::<Sqlite, _>(&self.sql, self.args)
            .fetch_all(conn)
            .await
            .map_err(db_err)
    }

    /// Runs every statement.
    pub(crate) async fn execute(self, conn: &mut SqliteConnection) -> StoreResult<()> {
        self.check()?;
        sqlx::query_with::<Sqlite, _>(&self.sql, self.args)
            .execute(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

impl<'q> Binds<'q> for Multi<'q> {
    fn bind<T>(mut self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send,
    {
        if let Err(e) = self.args.add(value) {
            self.error
                .get_or_insert_with(|| format!("binding a value: {e}"));
        }
        self.bound += 1;
        self
    }
}

impl<'q> Statements<'q> for Multi<'q> {
    fn statement(mut self, sql: &'static str) -> Self {
        if self.bound != self.wanted && self.error.is_none() {
            self.error = Some(format!(
                "a statement was added after {} of {} values",
                self.bound, self.wanted
            ));
        }
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.wanted += renumber(sql, self.wanted, &mut self.sql);
        self
    }
}

/// Appends `sql` with every `$N` made `$(N + offset)`; returns the highest `N` (the values
/// the statement takes, numbered from 1 without gaps in Zegel's statements). The statements
/// are Zegel's own constants, with no `$` inside quoted text.
fn renumber(sql: &str, offset: usize, out: &mut String) -> usize {
    let mut highest = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => {
                highest = highest.max(n);
                out.push_str(&(n + offset).to_string());
            }
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    highest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumber_moves_every_number_past_the_offset() {
        let mut out = String::new();
        let n = renumber(
            "UPDATE t SET a = $2, b = $10 WHERE id = $1 AND c = $2",
            3,
            &mut out,
        );
        assert_eq!(n, 10);
        assert_eq!(out, "UPDATE t SET a = $5, b = $13 WHERE id = $4 AND c = $5");
        let mut out = String::new();
        assert_eq!(renumber("DELETE FROM jobs", 7, &mut out), 0);
        assert_eq!(out, "DELETE FROM jobs");
    }

    async fn memory() -> SqliteConnection {
        use sqlx::Connection;
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&mut conn)
            .await
            .expect("table");
        conn
    }

    #[tokio::test]
    async fn statements_run_in_order_with_their_own_values() {
        let mut conn = memory().await;
        let rows = Multi::new()
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(1_i64)
            .bind("one")
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(2_i64)
            .bind("two")
            .statement("UPDATE t SET v = v || $2 WHERE id = $1 RETURNING v")
            .bind(2_i64)
            .bind("!")
            .fetch_all(&mut conn)
            .await
            .expect("runs");
        assert_eq!(rows.len(), 1);
        let v: String = sqlx::Row::get(&rows[0], "v");
        assert_eq!(v, "two!");
        let all: Vec<(i64, String)> = sqlx::query_as("SELECT id, v FROM t ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("rows");
        assert_eq!(all, vec![(1, "one".into()), (2, "two!".into())]);
    }

    #[tokio::test]
    async fn a_missing_or_extra_value_is_refused_before_anything_runs() {
        let mut conn = memory().await;
        let short = Multi::new()
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(1_i64)
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(2_i64)
            .bind("two");
        assert!(short.execute(&mut conn).await.is_err());
        let extra = Multi::new()
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(1_i64)
            .bind("one")
            .bind("extra");
        assert!(extra.execute(&mut conn).await.is_err());
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn a_failing_statement_fails_the_query() {
        let mut conn = memory().await;
        let dup = Multi::new()
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(1_i64)
            .bind("one")
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(1_i64)
            .bind("again");
        assert!(dup.execute(&mut conn).await.is_err());
        // The same statements (prepared and kept by sqlx) run again afterwards.
        Multi::new()
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(2_i64)
            .bind("two")
            .statement("INSERT INTO t (id, v) VALUES ($1, $2)")
            .bind(3_i64)
            .bind("three")
            .execute(&mut conn)
            .await
            .expect("the same statements again");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(
            n, 3,
            "the first row of the failed query, then the two new ones"
        );
    }
}
