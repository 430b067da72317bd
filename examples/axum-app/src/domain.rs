//! The shop's business logic: plain functions, `#[spyglass::instrument]`ed so they show up in the
//! dashboard's functions table and nest under the request in its waterfall.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A customer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct User {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) tier: &'static str,
}

/// An order line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) user_id: u64,
    pub(crate) item: String,
    pub(crate) quantity: u32,
    pub(crate) total_cents: u64,
}

/// What `POST /orders` accepts.
#[derive(Debug, Deserialize)]
pub(crate) struct NewOrder {
    pub(crate) user_id: u64,
    pub(crate) item: String,
    pub(crate) quantity: u32,
}

/// Why an operation failed.
#[derive(Debug)]
pub(crate) enum ShopError {
    NotFound(String),
    Invalid(String),
    Upstream(String),
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::NotFound(m) | ShopError::Invalid(m) | ShopError::Upstream(m) => {
                f.write_str(m)
            }
        }
    }
}

const NAMES: &[&str] = &[
    "ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "radia",
];
const ITEMS: &[&str] = &[
    "keyboard",
    "monitor",
    "cable",
    "laptop stand",
    "headset",
    "webcam",
];

async fn io_wait(micros: u64) {
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// Looks a user up; ids above 10 000 do not exist.
#[spyglass::instrument]
pub(crate) async fn load_user(id: u64) -> Result<User, ShopError> {
    io_wait(300 + fastrand::u64(0..700)).await;
    if id == 0 || id > 10_000 {
        return Err(ShopError::NotFound(format!("no user {id}")));
    }
    Ok(User {
        id,
        name: NAMES[(id as usize) % NAMES.len()].to_string(),
        tier: if id % 7 == 0 { "gold" } else { "standard" },
    })
}

/// The orders of a user.
#[spyglass::instrument]
pub(crate) async fn load_orders(user: &User) -> Vec<Order> {
    io_wait(500 + fastrand::u64(0..1500)).await;
    (0..(user.id % 5) + 1)
        .map(|i| Order {
            id: user.id * 100 + i,
            user_id: user.id,
            item: ITEMS[((user.id + i) as usize) % ITEMS.len()].to_string(),
            quantity: 1 + (i as u32 % 3),
            total_cents: price(ITEMS[((user.id + i) as usize) % ITEMS.len()]) * (1 + i % 3),
        })
        .collect()
}

/// The price of an item, in cents.
#[spyglass::instrument]
pub(crate) fn price(item: &str) -> u64 {
    1_000 + item.bytes().map(u64::from).sum::<u64>() * 7
}

/// Validates and books an order; the payment step fails now and then.
#[spyglass::instrument]
pub(crate) async fn place_order(new: NewOrder) -> Result<Order, ShopError> {
    if new.quantity == 0 || new.quantity > 100 {
        return Err(ShopError::Invalid(format!(
            "quantity must be 1..=100, got {}",
            new.quantity
        )));
    }
    let user = load_user(new.user_id).await?;
    let total_cents = price(&new.item) * u64::from(new.quantity);
    charge(&user, total_cents).await?;
    Ok(Order {
        id: fastrand::u64(1_000_000..9_999_999),
        user_id: user.id,
        item: new.item,
        quantity: new.quantity,
        total_cents,
    })
}

/// Charges the customer at the payment provider.
#[spyglass::instrument]
pub(crate) async fn charge(user: &User, cents: u64) -> Result<(), ShopError> {
    io_wait(2_000 + fastrand::u64(0..6_000)).await;
    if fastrand::u8(0..20) == 0 {
        return Err(ShopError::Upstream(format!(
            "payment gateway timeout charging user {} {} cents",
            user.id, cents
        )));
    }
    Ok(())
}

/// Ranks the catalogue for a query (CPU work, sync).
#[spyglass::instrument]
pub(crate) fn rank(query: &str) -> Vec<(&'static str, u32)> {
    let mut scored: Vec<(&'static str, u32)> = ITEMS
        .iter()
        .map(|item| {
            let score = query
                .bytes()
                .filter(|b| item.as_bytes().contains(b))
                .count() as u32;
            (*item, score)
        })
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.1));
    scored
}

/// The slow report: a few hundred milliseconds of "aggregation".
#[spyglass::instrument]
pub(crate) async fn build_report() -> u64 {
    io_wait(120_000 + fastrand::u64(0..250_000)).await;
    fastrand::u64(1_000..50_000)
}

/// Reads the inventory index; out-of-range slots panic (as a buggy handler would).
#[spyglass::instrument]
pub(crate) fn inventory_slot(slot: usize) -> u32 {
    let index = [3u32, 1, 4, 1, 5];
    index[slot]
}
