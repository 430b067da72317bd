//! `two-services frontend|backend [--listen ADDR] [--backend URL]`: see the library docs.

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: two-services backend [--listen 127.0.0.1:3001]\n       \
                     two-services frontend [--listen 127.0.0.1:3000] [--backend http://127.0.0.1:3001]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(role) = args.first().cloned() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let opt = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let (default_listen, service) = match role.as_str() {
        "backend" => ("127.0.0.1:3001", "backend"),
        "frontend" => ("127.0.0.1:3000", "frontend"),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listen: SocketAddr = match opt("--listen").as_deref().unwrap_or(default_listen).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("--listen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let backend_url = opt("--backend").unwrap_or_else(|| "http://127.0.0.1:3001".into());

    let _guard = match spyglass_example_two_services::install(service) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("spyglass: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = match service {
        "backend" => spyglass_example_two_services::backend(),
        _ => spyglass_example_two_services::frontend(backend_url),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        // The line tests (and scripts) wait for.
        println!("{service} listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{service}: {e}");
            ExitCode::FAILURE
        }
    }
}
