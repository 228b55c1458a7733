//! A small SQL builder for statements whose shape depends on the request
//! (filters, cursors), and the one pagination routine every list uses.

use crate::{errors::map_sqlx_error, on_pool, Store};
use keyzone_core::store::StoreError;
use keyzone_domain::page::{Cursor, Page, PageRequest, PageWindow, Sort, SortValue};
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

/// Appends ` AND col IN (…)` for a non-empty list of values.
pub fn push_in(q: &mut Sql, col: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    q.push(" AND ").push(col).push(" IN (");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.arg(Arg::Text(v.clone()));
    }
    q.push(")");
}

/// Appends a case-insensitive substring match of any value against any of
/// the columns (NULL columns match nothing), LIKE's pattern characters
/// escaped.
pub fn push_any_like(q: &mut Sql, cols: &[&str], values: &[String]) {
    if values.is_empty() {
        return;
    }
    q.push(" AND (");
    let mut first = true;
    for v in values {
        for c in cols {
            if !first {
                q.push(" OR ");
            }
            first = false;
            let mut pattern = String::from("%");
            for ch in v.to_lowercase().chars() {
                if matches!(ch, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(ch);
            }
            pattern.push('%');
            q.push("LOWER(COALESCE(").push(c).push(", '')) LIKE ");
            q.arg(Arg::Text(pattern));
            q.push(" ESCAPE '\\'");
        }
    }
    q.push(")");
}

/// What a list needs to know about its table.
pub struct Listing<'a> {
    /// `SELECT <columns> FROM <table>`
    pub select: &'a str,
    pub from: &'a str,
    /// Conditions every row of the list satisfies (tenant scope and filters),
    /// joined with AND; never empty, since every list is scoped.
    pub filter: Sql,
}

/// Appends the keyset condition "the row comes after `c`" (or before it,
/// with `forward` false) in the order `sort`, then id ascending.
fn keyset(q: &mut Sql, sort: &Sort, c: &Cursor, forward: bool) {
    let n = sort.0.len();
    q.push("(");
    for i in 0..=n {
        if i > 0 {
            q.push(" OR ");
        }
        q.push("(");
        for j in 0..i {
            q.push(sort.0[j].field)
                .push(" = ")
                .arg(Arg::from(&c.values[j]))
                .push(" AND ");
        }
        if i < n {
            let greater = forward != sort.0[i].descending;
            q.push(sort.0[i].field)
                .push(if greater { " > " } else { " < " })
                .arg(Arg::from(&c.values[i]));
        } else {
            q.push("id")
                .push(if forward { " > " } else { " < " })
                .arg(Arg::Text(c.id.clone()));
        }
        q.push(")");
    }
    q.push(")");
}

fn order_by(q: &mut Sql, sort: &Sort, reverse: bool) {
    q.push(" ORDER BY ");
    for k in &sort.0 {
        q.push(k.field).push(if k.descending != reverse {
            " DESC, "
        } else {
            " ASC, "
        });
    }
    q.push(if reverse { "id DESC" } else { "id ASC" });
}

impl From<&SortValue> for Arg {
    fn from(v: &SortValue) -> Self {
        match v {
            SortValue::Int(n) => Arg::Int(*n),
            SortValue::Text(s) => Arg::Text(s.clone()),
        }
    }
}

impl Store {
    /// One page of a list in the requested order (then id). Items come back
    /// in that order whichever way the caller walks.
    pub(crate) async fn page<R>(
        &self,
        listing: Listing<'_>,
        req: &PageRequest,
    ) -> Result<Page<R>, StoreError>
    where
        R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let limit = req.limit.max(1) as i64;
        let backwards = matches!(req.window, PageWindow::Before(_));
        let cursor = match &req.window {
            PageWindow::First => None,
            PageWindow::After(c) | PageWindow::Before(c) => Some(c),
        };
        let scoped = |head: &str| {
            let mut q = Sql::new(head);
            q.text.push_str(&listing.filter.text);
            q.args = listing.filter.args.clone();
            q
        };

        let mut q = scoped(&format!(
            "SELECT {} FROM {} WHERE ",
            listing.select, listing.from
        ));
        if let Some(c) = cursor {
            q.push(" AND ");
            keyset(&mut q, &req.sort, c, !backwards);
        }
        order_by(&mut q, &req.sort, backwards);
        q.push(" LIMIT ").arg(Arg::Int(limit + 1));
        let mut items: Vec<R> = on_pool!(self, |p| {
            bind_args!(sqlx::query_as::<_, R>(&q.text), &q.args)
                .fetch_all(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        if backwards {
            items.reverse();
        }

        // Whether anything lies on the other side of the cursor (the cursor
        // row itself included).
        let beyond = match cursor {
            None => false,
            Some(c) => {
                let mut e = scoped(&format!(
                    "SELECT EXISTS (SELECT 1 FROM {} WHERE ",
                    listing.from
                ));
                e.push(" AND NOT ");
                keyset(&mut e, &req.sort, c, !backwards);
                e.push(")");
                on_pool!(self, |p| {
                    bind_args!(sqlx::query_scalar::<_, bool>(&e.text), &e.args)
                        .fetch_one(p)
                        .await
                })
                .map_err(map_sqlx_error)?
            }
        };
        let (has_next, has_prev) = if backwards {
            (beyond, more)
        } else {
            (more, beyond)
        };

        let total_count = if req.with_total {
            let c = scoped(&format!("SELECT COUNT(*) FROM {} WHERE ", listing.from));
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
