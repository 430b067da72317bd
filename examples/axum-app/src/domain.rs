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

/// The catalogue: what the shop sells (the store seeds its `products` table from it) and what
/// [`rank`] searches.
pub(crate) const ITEMS: &[&str] = &[
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

/// The price of an item, in cents.
#[spyglass::instrument]
pub(crate) fn price(item: &str) -> u64 {
    1_000 + item.bytes().map(u64::from).sum::<u64>() * 7
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

/// Asks the inventory service for stock, which is down: a failing dependency (`GET /error`).
pub(crate) fn check_inventory() -> Result<&'static str, ShopError> {
    Err(ShopError::Upstream(
        "upstream inventory service unavailable".into(),
    ))
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
