//! `--demo-traffic`: a handful of simulated clients calling the app, with a realistic mix of
//! fast reads, writes, searches, misses, slow reports and the occasional failure.

use std::net::SocketAddr;
use std::time::Duration;

/// Runs until the process ends.
pub(crate) async fn run(addr: SocketAddr) {
    let client = client();
    for worker in 0..4u64 {
        let client = client.clone();
        tokio::spawn(async move { client_loop(client, addr, worker).await });
    }
}

/// The HTTP client of the demo traffic: straight to the app (no proxy), 10 s per request.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

async fn client_loop(client: reqwest::Client, addr: SocketAddr, worker: u64) {
    let base = format!("http://{addr}");
    let mut rng = fastrand::Rng::with_seed(worker + 1);
    loop {
        let roll = rng.u32(0..1000);
        let req = match roll {
            0..=399 => client.get(format!("{base}/users/{}", rng.u64(1..2000))),
            400..=579 => client.get(format!("{base}/users/{}/orders", rng.u64(1..500))),
            580..=699 => {
                let q = ["cable", "monitor", "head", "usb c", "stand"][rng.usize(0..5)];
                client.get(format!("{base}/search?q={q}"))
            }
            700..=799 => client.post(format!("{base}/orders")).json_body(&format!(
                r#"{{"user_id":{},"item":"keyboard","quantity":{}}}"#,
                rng.u64(1..300),
                rng.u32(0..6)
            )),
            800..=849 => client.get(format!("{base}/users/{}", rng.u64(20_000..30_000))),
            850..=879 => client.get(format!("{base}/health")),
            880..=909 => client.get(format!("{base}/static/app-{}.js", rng.u32(1..50))),
            910..=949 => client.get(format!("{base}/reports/slow")),
            950..=979 => client.get(format!("{base}/error")),
            _ => client.get(format!("{base}/panic")),
        };
        // Each demo client is one of three tenants, which the app's hook puts on its requests.
        let req = req.header(
            "x-tenant",
            ["acme", "globex", "initech"][(worker % 3) as usize],
        );
        if let Ok(r) = req.send().await {
            let _ = r.bytes().await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(20..120))).await;
    }
}

trait JsonBody {
    fn json_body(self, body: &str) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &str) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}
