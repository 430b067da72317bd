//! The shop's data in an embedded SQLite database, read and written through sqlx on a pool wrapped
//! in `spyglass::sqlx::InstrumentedPool`: every query shows up in the dashboard's queries table
//! (fingerprint, count, rows, percentiles, errors) and nests under the `#[spyglass::instrument]`ed
//! function and the request that ran it.
//!
//! The database lives in memory and is created, with its schema and seed data, at start: the
//! example needs no setup. An in-memory SQLite database lives as long as a connection to it, so the
//! store keeps one open beside the pool, and the pool has a single connection (SQLite's shared
//! cache locks whole tables, so one connection is both the simplest and the fastest choice here).
//!
//! [`recent_orders`] loads each order's lines with one query per order, the classic N+1 pattern, on
//! purpose: the dashboard's N+1 panel flags it. [`load_orders`] is the same data done right, one
//! join. [`register_user`] with an email already taken fails on the `UNIQUE` constraint, so failed
//! queries show up too.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use spyglass::sqlx::InstrumentedPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Sqlite, SqliteConnection};

use crate::domain::{self, NewOrder, Order, ShopError, User};

pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE users (
        id    INTEGER PRIMARY KEY,
        name  TEXT NOT NULL,
        email TEXT NOT NULL UNIQUE,
        tier  TEXT NOT NULL DEFAULT 'standard'
    )",
    "CREATE TABLE products (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        price_cents INTEGER NOT NULL
    )",
    "CREATE TABLE orders (
        id         INTEGER PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users (id),
        created_at INTEGER NOT NULL
    )",
    "CREATE INDEX orders_user ON orders (user_id)",
    "CREATE TABLE order_items (
        order_id   INTEGER NOT NULL REFERENCES orders (id),
        product_id INTEGER NOT NULL REFERENCES products (id),
        quantity   INTEGER NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (order_id, product_id)
    )",
];

// Seed data in a few set-based statements (a loop of inserts would fill the queries table with
// thousands of startup INSERTs): users 1..=10000 (ids above do not exist, as in the in-memory
// twin), one to five orders each, one to three lines per order.
pub(crate) const SEED_USERS: &str =
    "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 10000),
    names(i, name) AS (VALUES (0, 'ada'), (1, 'grace'), (2, 'linus'), (3, 'barbara'),
                              (4, 'ken'), (5, 'margaret'), (6, 'dennis'), (7, 'radia'))
    INSERT INTO users (id, name, email, tier)
    SELECT n, name, name || '.' || n || '@example.com',
           CASE WHEN n % 7 = 0 THEN 'gold' ELSE 'standard' END
    FROM seq, names WHERE i = n % 8";
const SEED_ORDERS: &str =
    "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < 4)
    INSERT INTO orders (user_id, created_at)
    SELECT users.id, ? - users.id * 60 - n * 86400 FROM users, seq WHERE n <= users.id % 5
    ORDER BY 2";
const SEED_ITEMS: &str =
    "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < 2)
    INSERT INTO order_items (order_id, product_id, quantity)
    SELECT orders.id, (orders.id + n) % 6 + 1, 1 + n FROM orders, seq WHERE n <= orders.id % 3";

/// The shop's database: an instrumented pool over an in-memory SQLite database. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: InstrumentedPool<Sqlite>,
    // Keeps the in-memory database alive whatever the pool does with its connection.
    _keeper: std::sync::Arc<tokio::sync::Mutex<SqliteConnection>>,
}

/// One line of an order in [`OrderSummary`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OrderLine {
    pub(crate) item: String,
    pub(crate) quantity: u32,
    pub(crate) total_cents: u64,
}

/// An order with its lines, as `GET /orders` lists them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OrderSummary {
    pub(crate) id: u64,
    pub(crate) user_id: u64,
    pub(crate) created_at: i64,
    pub(crate) lines: Vec<OrderLine>,
}

/// What `POST /users` accepts.
#[derive(Debug, Deserialize)]
pub(crate) struct NewUser {
    pub(crate) name: String,
    pub(crate) email: String,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn db_error(e: sqlx::Error) -> ShopError {
    ShopError::Upstream(format!("database error: {e}"))
}

pub(crate) fn tier(t: &str) -> &'static str {
    if t == "gold" {
        "gold"
    } else {
        "standard"
    }
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A fresh in-memory database: a one-connection pool over it, and a connection that keeps it
/// alive whatever the pool does with its own.
pub(crate) async fn open_memory() -> Result<(SqlitePool, SqliteConnection), sqlx::Error> {
    // `sqlite::memory:` names a fresh shared-cache in-memory database; every connection made from
    // these options (the keeper's and the pool's) opens that same database.
    let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
    let keeper = SqliteConnection::connect_with(&options).await?;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?;
    Ok((pool, keeper))
}

impl Store {
    /// Creates the in-memory database, its schema and its seed data.
    pub(crate) async fn open() -> Result<Store, sqlx::Error> {
        let (pool, keeper) = open_memory().await?;
        let store = Store {
            pool: InstrumentedPool::new(pool),
            _keeper: std::sync::Arc::new(tokio::sync::Mutex::new(keeper)),
        };
        store.seed().await?;
        Ok(store)
    }

    async fn seed(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for &ddl in SCHEMA {
            sqlx::query(ddl)
                .execute(spyglass::sqlx::instrument(&mut *tx))
                .await?;
        }
        // The catalogue, each product at its [`domain::price`].
        for name in domain::ITEMS {
            let price = i64::try_from(domain::price(name)).unwrap_or(i64::MAX);
            sqlx::query("INSERT INTO products (name, price_cents) VALUES (?, ?)")
                .bind(*name)
                .bind(price)
                .execute(spyglass::sqlx::instrument(&mut *tx))
                .await?;
        }
        sqlx::query(SEED_USERS)
            .execute(spyglass::sqlx::instrument(&mut *tx))
            .await?;
        sqlx::query(SEED_ORDERS)
            .bind(now_secs())
            .execute(spyglass::sqlx::instrument(&mut *tx))
            .await?;
        sqlx::query(SEED_ITEMS)
            .execute(spyglass::sqlx::instrument(&mut *tx))
            .await?;
        tx.commit().await
    }
}

/// Looks a user up.
#[spyglass::instrument]
pub(crate) async fn load_user(store: &Store, id: u64) -> Result<User, ShopError> {
    let id_sql = i64::try_from(id).map_err(|_| ShopError::NotFound(format!("no user {id}")))?;
    let row: Option<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, tier FROM users WHERE id = ?")
            .bind(id_sql)
            .fetch_optional(&store.pool)
            .await
            .map_err(db_error)?;
    let (id, name, t) = row.ok_or_else(|| ShopError::NotFound(format!("no user {id}")))?;
    Ok(User {
        id: to_u64(id),
        name,
        tier: tier(&t),
    })
}

/// The order lines of a user, in one join (compare [`recent_orders`]).
#[spyglass::instrument]
pub(crate) async fn load_orders(store: &Store, user: &User) -> Result<Vec<Order>, ShopError> {
    let rows: Vec<(i64, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT o.id, o.user_id, p.name, i.quantity, p.price_cents * i.quantity
         FROM orders o
         JOIN order_items i ON i.order_id = o.id
         JOIN products p ON p.id = i.product_id
         WHERE o.user_id = ?
         ORDER BY o.id, p.name",
    )
    .bind(i64::try_from(user.id).unwrap_or(i64::MAX))
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, user_id, item, quantity, total)| Order {
            id: to_u64(id),
            user_id: to_u64(user_id),
            item,
            quantity: u32::try_from(quantity).unwrap_or(0),
            total_cents: to_u64(total),
        })
        .collect())
}

/// The latest orders with their lines: one query for the orders, then one per order for its lines
/// (an N+1 query pattern, kept on purpose so the dashboard has one to show).
#[spyglass::instrument]
pub(crate) async fn recent_orders(
    store: &Store,
    limit: u32,
) -> Result<Vec<OrderSummary>, ShopError> {
    let orders: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT id, user_id, created_at FROM orders ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&store.pool)
            .await
            .map_err(db_error)?;
    let mut out = Vec::with_capacity(orders.len());
    for (id, user_id, created_at) in orders {
        out.push(OrderSummary {
            id: to_u64(id),
            user_id: to_u64(user_id),
            created_at,
            lines: load_lines(store, id).await?,
        });
    }
    Ok(out)
}

/// The lines of one order.
#[spyglass::instrument]
pub(crate) async fn load_lines(store: &Store, order_id: i64) -> Result<Vec<OrderLine>, ShopError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT p.name, i.quantity, p.price_cents * i.quantity
         FROM order_items i JOIN products p ON p.id = i.product_id
         WHERE i.order_id = ?
         ORDER BY p.name",
    )
    .bind(order_id)
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(item, quantity, total)| OrderLine {
            item,
            quantity: u32::try_from(quantity).unwrap_or(0),
            total_cents: to_u64(total),
        })
        .collect())
}

/// Validates and books an order: the user and the product must exist, the payment step
/// ([`domain::charge`]) fails now and then, and the order is written in one transaction.
#[spyglass::instrument]
pub(crate) async fn place_order(store: &Store, new: NewOrder) -> Result<Order, ShopError> {
    if new.quantity == 0 || new.quantity > 100 {
        return Err(ShopError::Invalid(format!(
            "quantity must be 1..=100, got {}",
            new.quantity
        )));
    }
    let user = load_user(store, new.user_id).await?;
    let product: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, price_cents FROM products WHERE name = ?")
            .bind(&new.item)
            .fetch_optional(&store.pool)
            .await
            .map_err(db_error)?;
    let (product_id, price) =
        product.ok_or_else(|| ShopError::NotFound(format!("no product '{}'", new.item)))?;
    let total_cents = to_u64(price) * u64::from(new.quantity);
    domain::charge(&user, total_cents).await?;

    let mut tx = store.pool.begin().await.map_err(db_error)?;
    let order_id: i64 =
        sqlx::query_scalar("INSERT INTO orders (user_id, created_at) VALUES (?, ?) RETURNING id")
            .bind(i64::try_from(user.id).unwrap_or(i64::MAX))
            .bind(now_secs())
            .fetch_one(spyglass::sqlx::instrument(&mut *tx))
            .await
            .map_err(db_error)?;
    sqlx::query("INSERT INTO order_items (order_id, product_id, quantity) VALUES (?, ?, ?)")
        .bind(order_id)
        .bind(product_id)
        .bind(i64::from(new.quantity))
        .execute(spyglass::sqlx::instrument(&mut *tx))
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(Order {
        id: to_u64(order_id),
        user_id: user.id,
        item: new.item,
        quantity: new.quantity,
        total_cents,
    })
}

/// Registers a customer. An email already registered fails on the table's `UNIQUE` constraint
/// (the failed INSERT is recorded with its error) and answers 409.
#[spyglass::instrument]
pub(crate) async fn register_user(store: &Store, new: NewUser) -> Result<User, RegisterError> {
    if new.name.trim().is_empty() || !new.email.contains('@') {
        return Err(RegisterError::Shop(ShopError::Invalid(
            "a name and an email address are required".into(),
        )));
    }
    let id: i64 = sqlx::query_scalar("INSERT INTO users (name, email) VALUES (?, ?) RETURNING id")
        .bind(&new.name)
        .bind(&new.email)
        .fetch_one(&store.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                RegisterError::Taken(new.email.clone())
            }
            _ => RegisterError::Shop(db_error(e)),
        })?;
    Ok(User {
        id: to_u64(id),
        name: new.name,
        tier: "standard",
    })
}

/// Why [`register_user`] failed.
#[derive(Debug)]
pub(crate) enum RegisterError {
    /// The email address is registered already.
    Taken(String),
    /// Invalid input or a database failure.
    Shop(ShopError),
}

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterError::Taken(email) => write!(f, "{email} is already registered"),
            RegisterError::Shop(e) => e.fmt(f),
        }
    }
}

/// Revenue per product over the latest 2000 orders: the aggregate behind the slow report (whose
/// slowness is [`domain::build_report`]'s; over every order this query would hold the pool's one
/// connection for tens of milliseconds and hold up every other route).
#[spyglass::instrument]
pub(crate) async fn sales_by_product(store: &Store) -> Result<Vec<(String, i64)>, ShopError> {
    sqlx::query_as(
        "SELECT p.name, SUM(p.price_cents * i.quantity) AS revenue
         FROM order_items i JOIN products p ON p.id = i.product_id
         WHERE i.order_id > (SELECT MAX(id) - 2000 FROM orders)
         GROUP BY p.name ORDER BY revenue DESC",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)
}

/// The text of the slow report (`GET /reports/slow`, `GET /slow`): the rows of
/// [`domain::build_report`] and the top seller of [`sales_by_product`].
pub(crate) async fn slow_report(store: &Store) -> Result<String, ShopError> {
    let sales = sales_by_product(store).await?;
    let rows = domain::build_report().await;
    let top = sales.first().map_or_else(String::new, |(name, cents)| {
        format!(", top seller {name} ({cents} cents)")
    });
    Ok(format!("report with {rows} rows{top}\n"))
}
