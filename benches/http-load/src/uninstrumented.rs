//! The `shop-sqlx` app's store: the `shop` app's `GET /users/{id}` without Spyglass in it. The
//! same query on the same seeded `users` table of an in-memory SQLite database, answered with the
//! same JSON, through a plain sqlx pool and a function without `#[spyglass::instrument]`: the app
//! as a user of another middleware writes it. In every variant it runs the same code, and the
//! middleware is the only difference, so `SpyglassLayer::new()` (or `Spyglass::new()` on actix)
//! records what the peers record, the request.
//!
//! Both load harnesses include this file beside the example's `store.rs` and `domain.rs`, whose
//! schema, seed and types it uses.

use sqlx::sqlite::SqlitePool;
use sqlx::SqliteConnection;

use crate::domain::{ShopError, User};
use crate::store;

/// The database: a plain pool over an in-memory SQLite database, opened as the example's
/// `Store::open` opens its own (`store::open_memory`).
#[derive(Debug, Clone)]
pub(crate) struct PlainStore {
    pool: SqlitePool,
    // Keeps the in-memory database alive whatever the pool does with its connection.
    _keeper: std::sync::Arc<tokio::sync::Mutex<SqliteConnection>>,
}

impl PlainStore {
    /// Creates the in-memory database with the example's `users` table and seed users.
    pub(crate) async fn open() -> Result<PlainStore, sqlx::Error> {
        let (pool, keeper) = store::open_memory().await?;
        sqlx::query(store::SCHEMA[0]).execute(&pool).await?;
        sqlx::query(store::SEED_USERS).execute(&pool).await?;
        Ok(PlainStore {
            pool,
            _keeper: std::sync::Arc::new(tokio::sync::Mutex::new(keeper)),
        })
    }

    /// The example's `store::load_user`, line for line, on the plain pool and not instrumented.
    pub(crate) async fn load_user(&self, id: u64) -> Result<User, ShopError> {
        let id_sql = i64::try_from(id).map_err(|_| ShopError::NotFound(format!("no user {id}")))?;
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, tier FROM users WHERE id = ?")
                .bind(id_sql)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| ShopError::Upstream(format!("database error: {e}")))?;
        let (id, name, t) = row.ok_or_else(|| ShopError::NotFound(format!("no user {id}")))?;
        Ok(User {
            id: store::to_u64(id),
            name,
            tier: store::tier(&t),
        })
    }
}
