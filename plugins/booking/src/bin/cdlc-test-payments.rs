//! The TEST payment provider as its own HTTP process, for tests and demos:
//! no money moves (see `cdlc_plugin_booking::test_provider`).
//!
//! `cdlc-test-payments --listen 127.0.0.1:4242 --api-key sk_test_x
//!  --webhook-secret whsec_x --webhook-url http://127.0.0.1:8080/api/v1/booking/payments/webhook`
//!
//! Prints `listening on http://ADDR` once it accepts connections.

use cdlc_plugin_booking::test_provider::{router, Options};

const USAGE: &str =
    "usage: cdlc-test-payments --api-key KEY --webhook-secret SECRET [--listen ADDR] [--webhook-url URL]";

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cdlc-test-payments: {message}\n{USAGE}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut listen = "127.0.0.1:0".to_owned();
    let (mut api_key, mut webhook_secret, mut webhook_url) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?,
            "--api-key" => api_key = Some(value()?),
            "--webhook-secret" => webhook_secret = Some(value()?),
            "--webhook-url" => webhook_url = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let api_key = api_key.ok_or("--api-key is required")?;
    let webhook_secret = webhook_secret.ok_or("--webhook-secret is required")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let options = Options { base_url: format!("http://{address}"), api_key, webhook_url, webhook_secret };
        println!("listening on http://{address}");
        cdlc_plugin_api::axum::serve(listener, router(options)).await.map_err(|e| e.to_string())
    })
}
