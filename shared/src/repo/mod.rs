//! Repositories: the SQL, grouped by the table it mostly serves (a few modules, such as
//! `responder` and `crls`, read across several). Every function takes any connection (pool or
//! transaction) so a service can compose several of them inside one transaction.

pub mod acme;
pub mod api_keys;
pub mod audit;
pub mod certificates;
pub mod channels;
pub mod crls;
pub mod discovery;
pub mod enrollment;
pub mod issuers;
pub mod jobs;
pub mod notifications;
pub mod ocsp_signers;
pub mod profiles;
pub mod renewal;
pub mod responder;
pub mod revocations;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Default and maximum page sizes for list endpoints.
pub const DEFAULT_PAGE: u64 = 50;
pub const MAX_PAGE: u64 = 500;

/// A keyset position `(time, id)` in a listing ordered by a time column (`created_at`, or
/// `not_after` for certificates by expiry), opaque to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl TimeCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.created_at.timestamp_micros(), self.id))
    }

    /// The cursor, if `raw` is one this API could have issued: a time PostgreSQL can store (years
    /// 1 to 9999; a row's creation time is always within them) and a UUID.
    pub fn decode(raw: &str) -> Option<Self> {
        use chrono::Datelike;
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('|')?;
        let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        if !(1..=9999).contains(&created_at.year()) {
            return None;
        }
        Some(Self {
            created_at,
            id: id.parse().ok()?,
        })
    }
}

/// Which way a keyset listing runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Latest time first (`created_at` lists: newest first).
    Descending,
    /// Earliest time first (`not_after` lists: soonest expiry first).
    Ascending,
}

/// One page of a newest-first listing by `(created_at, id)`, with the total for the same filters.
/// `key` reads a row's position, for the next cursor.
pub(crate) async fn newest_first<E>(
    conn: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    columns: (E::Column, E::Column),
    cursor: Option<TimeCursor>,
    limit: u64,
    key: impl Fn(&E::Model) -> TimeCursor,
) -> Result<Page<E::Model>, sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    E::Model: Send + Sync,
{
    keyset(conn, query, columns, Direction::Descending, cursor, limit, key).await
}

/// One page of a listing ordered by a time column and then the id, either way, with the total
/// for the same filters. The cursor is the last row's `(time, id)`; `key` reads it.
pub(crate) async fn keyset<E>(
    conn: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    columns: (E::Column, E::Column),
    direction: Direction,
    cursor: Option<TimeCursor>,
    limit: u64,
    key: impl Fn(&E::Model) -> TimeCursor,
) -> Result<Page<E::Model>, sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    E::Model: Send + Sync,
{
    let unpaged = query.clone();
    let (items, next_cursor) = keyset_rows(conn, query, columns, direction, cursor, limit, key).await?;
    let total = page_total(conn, &unpaged, cursor.is_none(), items.len(), next_cursor.is_some()).await?;
    Ok(Page {
        items,
        next_cursor,
        total,
    })
}

/// The rows of a [`keyset`] page and the cursor of the next one, without the total.
pub(crate) async fn keyset_rows<E>(
    conn: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    (time, id): (E::Column, E::Column),
    direction: Direction,
    cursor: Option<TimeCursor>,
    limit: u64,
    key: impl Fn(&E::Model) -> TimeCursor,
) -> Result<(Vec<E::Model>, Option<String>), sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, Order, QueryFilter, QueryOrder, QuerySelect};
    let mut query = query;
    if let Some(c) = cursor {
        // A row comparison, `(time, id) < (at, uuid)`: PostgreSQL turns it into one range of the
        // `(time, id)` index, where the equivalent OR of two conditions would be a filter.
        let row = Expr::tuple([time.into_expr(), id.into_expr()]);
        let at = Expr::tuple([Expr::val(c.created_at), Expr::val(c.id)]);
        query = query.filter(match direction {
            Direction::Descending => row.lt(at),
            Direction::Ascending => row.gt(at),
        });
    }
    let order = match direction {
        Direction::Descending => Order::Desc,
        Direction::Ascending => Order::Asc,
    };
    let mut items = query
        .order_by(time, order.clone())
        .order_by(id, order)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|m| key(m).encode())
    } else {
        None
    };
    Ok((items, next_cursor))
}

/// Lists count their matches exactly up to this many; beyond it, `total` is the query planner's
/// estimate, so a list over a million rows costs as much as one over ten thousand.
pub const EXACT_TOTAL_LIMIT: u64 = 10_000;

/// How many rows match a listing's filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Total {
    pub count: u64,
    /// `count` is the planner's estimate (there are more than [`EXACT_TOTAL_LIMIT`] matches).
    pub estimated: bool,
}

/// The number of rows `query` matches: counted when at most [`EXACT_TOTAL_LIMIT`] (the count stops
/// reading there), otherwise estimated by the planner from the table's statistics (never below
/// the limit, which is known to be exceeded).
pub(crate) async fn total<E: sea_orm::EntityTrait>(
    conn: &impl sea_orm::ConnectionTrait,
    query: &sea_orm::Select<E>,
) -> Result<Total, sea_orm::DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{QuerySelect, QueryTrait, Statement};
    let backend = conn.get_database_backend();
    let rows = query.clone().select_only().expr(Expr::val(1));
    let capped = rows.clone().limit(EXACT_TOTAL_LIMIT + 1).build(backend);
    let counted = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT count(*) AS n FROM ({}) AS matched", capped.sql),
            capped.values.map(|v| v.0).unwrap_or_default(),
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    let counted = u64::try_from(counted).unwrap_or(0);
    if counted <= EXACT_TOTAL_LIMIT {
        return Ok(Total {
            count: counted,
            estimated: false,
        });
    }
    let all = rows.build(backend);
    let plan = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("EXPLAIN (FORMAT JSON) {}", all.sql),
            all.values.map(|v| v.0).unwrap_or_default(),
        ))
        .await?
        .map(|r| r.try_get::<serde_json::Value>("", "QUERY PLAN"))
        .transpose()?;
    let estimate = plan
        .as_ref()
        .and_then(|p| p.pointer("/0/Plan/Plan Rows"))
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    Ok(Total {
        // A float from the planner; the cast saturates.
        count: (estimate.round() as u64).max(EXACT_TOTAL_LIMIT + 1),
        estimated: true,
    })
}

/// The total for a page of `unpaged`: a first page that holds every match is its own count (the
/// common case of a narrow filter, which then costs one query); otherwise [`total`].
pub(crate) async fn page_total<E: sea_orm::EntityTrait>(
    conn: &impl sea_orm::ConnectionTrait,
    unpaged: &sea_orm::Select<E>,
    first_page: bool,
    items: usize,
    more: bool,
) -> Result<Total, sea_orm::DbErr> {
    if first_page && !more {
        return Ok(Total {
            count: items as u64,
            estimated: false,
        });
    }
    total(conn, unpaged).await
}

/// One page of a listing and the total across all pages for the same filters.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub total: Total,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = TimeCursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(TimeCursor::decode(&c.encode()), Some(c));
        assert_eq!(TimeCursor::decode("not a cursor"), None);
        assert_eq!(TimeCursor::decode(""), None);
        // Decodes as a time, but one PostgreSQL cannot store (year -200000).
        let far = URL_SAFE_NO_PAD.encode(format!("{}|{}", -6_400_000_000_000_000_000i64, Uuid::nil()));
        assert_eq!(TimeCursor::decode(&far), None);
    }
}
