//! Repositories: the SQL, grouped by the table it mostly serves (a few modules, such as
//! `responder` and `crls`, read across several). Every function takes any connection (pool or
//! transaction) so a service can compose several of them inside one transaction.

pub mod acme;
pub mod api_keys;
pub mod audit;
pub mod certificates;
pub mod channels;
pub mod crls;
pub mod enrollment;
pub mod issuers;
pub mod jobs;
pub mod notifications;
pub mod ocsp_signers;
pub mod profiles;
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
    (time, id): (E::Column, E::Column),
    direction: Direction,
    cursor: Option<TimeCursor>,
    limit: u64,
    key: impl Fn(&E::Model) -> TimeCursor,
) -> Result<Page<E::Model>, sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::{ColumnTrait, Condition, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
    let total = query.clone().count(conn).await?;
    let mut query = query;
    if let Some(c) = cursor {
        let (at, uuid) = (c.created_at, c.id);
        query = query.filter(match direction {
            Direction::Descending => Condition::any()
                .add(time.lt(at))
                .add(Condition::all().add(time.eq(at)).add(id.lt(uuid))),
            Direction::Ascending => Condition::any()
                .add(time.gt(at))
                .add(Condition::all().add(time.eq(at)).add(id.gt(uuid))),
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
    Ok(Page {
        items,
        next_cursor,
        total,
    })
}

/// One page of a listing and the total across all pages for the same filters.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub total: u64,
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
