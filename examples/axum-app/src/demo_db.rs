//! `--demo-traffic`, database part: a client that lists recent orders (the N+1 route) and
//! registers customers, now and then with an email already taken (a failed INSERT). It runs beside
//! [`crate::demo`] in both examples, the axum one and its actix twin, which serve the same routes.

use std::net::SocketAddr;
use std::time::Duration;

/// Runs until the process ends.
pub(crate) async fn run(addr: SocketAddr) {
    let client = crate::demo::client();
    let base = format!("http://{addr}");
    let mut rng = fastrand::Rng::with_seed(42);
    // Unique per run, so a restarted app's fresh database takes them again.
    let run_id = std::process::id();
    let mut registered = 0u64;
    loop {
        let req = if rng.u32(0..10) < 6 {
            client.get(format!("{base}/orders?limit={}", rng.u32(5..21)))
        } else {
            // One registration in four reuses an email: the UNIQUE constraint rejects it (409).
            let email = if registered > 0 && rng.u32(0..4) == 0 {
                format!("demo.{run_id}.{}@example.com", rng.u64(0..registered))
            } else {
                registered += 1;
                format!("demo.{run_id}.{}@example.com", registered - 1)
            };
            client
                .post(format!("{base}/users"))
                .header("content-type", "application/json")
                .body(format!(r#"{{"name":"demo","email":"{email}"}}"#))
        };
        if let Ok(r) = req.send().await {
            let _ = r.bytes().await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(80..250))).await;
    }
}
