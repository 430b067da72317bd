//! What the example binary does around its server, the same in the actix twin (which compiles this
//! file too): read the command line, shorten the panic report, install Spyglass, open the store,
//! and once listening print the URLs and start the demo traffic.

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::store::Store;

/// One example binary: what its usage and its panic report name.
pub(crate) struct Binary {
    /// The program name in the usage line.
    pub(crate) name: &'static str,
    /// The port without `--port`.
    pub(crate) default_port: u16,
    /// What turns a handler's panic into a 500, named in the one-line panic report.
    pub(crate) panic_catcher: &'static str,
}

/// The command line: `[--port N] [--demo-traffic]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Args {
    /// The port on 127.0.0.1 (`0`: any free one).
    pub(crate) port: u16,
    /// `--demo-traffic`: send traffic to the app itself.
    pub(crate) demo: bool,
}

/// An app ready to serve. Dropping it at the end of `main` flushes every recorded event to the
/// exporters.
pub(crate) struct Started {
    pub(crate) args: Args,
    pub(crate) store: Store,
    _guard: spyglass::SpyglassGuard,
}

impl Binary {
    fn usage(&self) -> String {
        format!(
            "usage: {} [--port N] [--demo-traffic]\n  \
             --port N         port on 127.0.0.1 (default {}; 0 picks a free one)\n  \
             --demo-traffic   send realistic traffic to the app itself",
            self.name, self.default_port
        )
    }

    /// The arguments after the program name; `Err` is the message to print (the usage for `--help`).
    fn parse_args(&self, argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            port: self.default_port,
            demo: false,
        };
        let mut it = argv.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--demo-traffic" => args.demo = true,
                "--port" => args.port = parse_port(&it.next().ok_or("--port needs a value")?)?,
                s if s.starts_with("--port=") => args.port = parse_port(&s["--port=".len()..])?,
                "-h" | "--help" => return Err(self.usage()),
                other => return Err(format!("unknown argument '{other}'\n{}", self.usage())),
            }
        }
        Ok(args)
    }

    /// Everything before the server binds: the command line, the panic hook, the global Spyglass
    /// instance and the seeded store. `Err` is the exit code, its reason already printed.
    pub(crate) async fn start(&self) -> Result<Started, ExitCode> {
        let args = self.parse_args(std::env::args().skip(1)).map_err(|e| {
            eprintln!("{e}");
            ExitCode::from(2)
        })?;
        // One short line per handler panic instead of the default multi-line report: the demo
        // traffic hits the panicking route on purpose.
        let panic_catcher = self.panic_catcher;
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("panic: {msg} (turned into a 500 by {panic_catcher})");
        }));
        // Install the global instance: service name "shop" unless OTEL_SERVICE_NAME says otherwise,
        // and the exporters the environment asks for (a malformed variable is an error naming it).
        spyglass::exporters::register_env();
        let _guard = spyglass::Spyglass::builder()
            .service_name("shop")
            .from_env()
            .install()
            .map_err(|e| {
                eprintln!("spyglass: {e}");
                ExitCode::from(2)
            })?;
        let store = Store::open().await.map_err(|e| {
            eprintln!("cannot create the SQLite database: {e}");
            ExitCode::FAILURE
        })?;
        Ok(Started {
            args,
            store,
            _guard,
        })
    }
}

fn parse_port(v: &str) -> Result<u16, String> {
    v.parse()
        .map_err(|_| format!("--port must be a number in 0..=65535, got '{v}'"))
}

/// Once the app listens on `addr`: prints the dashboard and app URLs and, with `--demo-traffic`,
/// starts the demo clients.
pub(crate) fn serving(addr: SocketAddr, demo: bool) {
    println!("Spyglass dashboard: http://{addr}/_spyglass");
    println!("App: http://{addr}/  (routes: /users/{{id}}, /users/{{id}}/orders, /orders, POST /orders, POST /users, /search?q=, /slow, /error, /panic)");
    if demo {
        println!("Sending demo traffic to the app (stop with Ctrl-C)");
        tokio::spawn(crate::demo::run(addr));
        tokio::spawn(crate::demo_db::run(addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: Binary = Binary {
        name: "app",
        default_port: 3000,
        panic_catcher: "the middleware",
    };

    fn parse(argv: &[&str]) -> Result<Args, String> {
        APP.parse_args(argv.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags_and_defaults() {
        assert_eq!(
            parse(&[]),
            Ok(Args {
                port: 3000,
                demo: false
            })
        );
        let want = Ok(Args {
            port: 0,
            demo: true,
        });
        assert_eq!(parse(&["--port", "0", "--demo-traffic"]), want);
        assert_eq!(parse(&["--demo-traffic", "--port=0"]), want);
    }

    #[test]
    fn errors_name_the_fix() {
        let usage = "usage: app [--port N] [--demo-traffic]\n  \
                     --port N         port on 127.0.0.1 (default 3000; 0 picks a free one)\n  \
                     --demo-traffic   send realistic traffic to the app itself";
        assert_eq!(parse(&["--help"]), Err(usage.to_string()));
        assert_eq!(parse(&["-h"]), Err(usage.to_string()));
        assert_eq!(
            parse(&["--port=0", "--bogus"]),
            Err(format!("unknown argument '--bogus'\n{usage}"))
        );
        assert_eq!(parse(&["--port"]), Err("--port needs a value".to_string()));
        assert_eq!(
            parse(&["--port", "70000"]),
            Err("--port must be a number in 0..=65535, got '70000'".to_string())
        );
        assert_eq!(
            parse(&["--port=abc"]),
            Err("--port must be a number in 0..=65535, got 'abc'".to_string())
        );
    }
}
