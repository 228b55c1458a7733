//! A small SQL builder for statements whose shape depends on the request
//! (filters, cursors), and the one pagination routine every list uses.

use crate::{errors::map_sqlx_error, on_pool, Store};
use keyzone_core::store::StoreError;
use keyzone_domain::page::{Page, PageRequest, PageWindow};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text with `$n` placeholders and the values they stand for.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }
    /// Appends a placeholder for `arg`.
    pub fn arg(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }
}

/// Binds every argument of a [`Sql`] to a query of either driver.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::sql::Arg::Text(s) => q.bind(s.as_str()),
                $crate::sql::Arg::Int(n) => q.bind(*n),
            };
        }
        q
    }};
}
pub(crate) use bind_args;

/// What a list needs to know about its table.
pub struct Listing<'a> {
    /// `SELECT <columns> FROM <table>`
    pub select: &'a str,
    pub from: &'a str,
    /// Conditions every row of the list satisfies (tenant scope and filters),
    /// joined with AND; never empty, since every list is scoped.
    pub filter: Sql,
}

impl Store {
    /// One page of a list in (created_at, id) order. Items come back in
    /// ascending order whichever way the caller walks.
    pub(crate) async fn page<R>(
        &self,
        listing: Listing<'_>,
        req: &PageRequest,
    ) -> Result<Page<R>, StoreError>
    where
        R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let limit = req.limit.max(1) as i64;
        let mut q = Sql::new(&format!(
            "SELECT {} FROM {} WHERE ",
            listing.select, listing.from
        ));
        q.text.push_str(&listing.filter.text);
        q.args = listing.filter.args.clone();
        let descending = matches!(req.window, PageWindow::Before(_));
        let cursor = match &req.window {
            PageWindow::First => None,
            PageWindow::After(c) | PageWindow::Before(c) => Some(c),
        };
        if let Some(c) = cursor {
            q.push(if descending {
                " AND (created_at, id) < ("
            } else {
                " AND (created_at, id) > ("
            });
            q.arg(Arg::Int(c.created_at.as_micros()))
                .push(", ")
                .arg(Arg::Text(c.id.clone()))
                .push(")");
        }
        q.push(if descending {
            " ORDER BY created_at DESC, id DESC LIMIT "
        } else {
            " ORDER BY created_at ASC, id ASC LIMIT "
        })
        .arg(Arg::Int(limit + 1));

        let mut items: Vec<R> = on_pool!(self, |p| {
            bind_args!(sqlx::query_as::<_, R>(&q.text), &q.args)
                .fetch_all(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        if descending {
            items.reverse();
        }

        // Whether anything lies on the other side of the cursor.
        let beyond = match cursor {
            None => false,
            Some(c) => {
                let mut e = Sql::new(&format!(
                    "SELECT EXISTS (SELECT 1 FROM {} WHERE ",
                    listing.from
                ));
                e.text.push_str(&listing.filter.text);
                e.args = listing.filter.args.clone();
                e.push(if descending {
                    " AND (created_at, id) >= ("
                } else {
                    " AND (created_at, id) <= ("
                });
                e.arg(Arg::Int(c.created_at.as_micros()))
                    .push(", ")
                    .arg(Arg::Text(c.id.clone()))
                    .push("))");
                on_pool!(self, |p| {
                    bind_args!(sqlx::query_scalar::<_, bool>(&e.text), &e.args)
                        .fetch_one(p)
                        .await
                })
                .map_err(map_sqlx_error)?
            }
        };
        let (has_next, has_prev) = if descending {
            (beyond, more)
        } else {
            (more, beyond)
        };

        let total_count = if req.with_total {
            let mut c = Sql::new(&format!("SELECT COUNT(*) FROM {} WHERE ", listing.from));
            c.text.push_str(&listing.filter.text);
            c.args = listing.filter.args.clone();
            let n: i64 = on_pool!(self, |p| {
                bind_args!(sqlx::query_scalar::<_, i64>(&c.text), &c.args)
                    .fetch_one(p)
                    .await
            })
            .map_err(map_sqlx_error)?;
            Some(n as u64)
        } else {
            None
        };

        Ok(Page {
            items,
            has_next,
            has_prev,
            total_count,
        })
    }
}
