//! `fanout`: N agents of one company on WebSockets; webhooks posted at a rate; for each
//! agent and message, the time from posting the webhook to the agent's `message.created`.
//! `sockets`: N idle agents held open (for memory figures).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::fixture::{Fixture, customer_phone, http_client, inbound_form, post_inbound};
use crate::stats::{Latencies, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    #[arg(long, default_value = "target/bench/fixture.json")]
    pub fixture: PathBuf,
    /// Agents connected.
    #[arg(long, default_value_t = 1_000, value_parser = crate::args::count)]
    pub sockets: usize,
    /// Webhooks per second.
    #[arg(long, default_value_t = 200.0, value_parser = crate::args::rate)]
    pub rate: f64,
    /// Seconds of webhooks.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SocketArgs {
    #[arg(long, default_value = "target/bench/fixture.json")]
    pub fixture: PathBuf,
    /// Agents connected, spread over the companies.
    #[arg(long, default_value_t = 10_000, value_parser = crate::args::count)]
    pub sockets: usize,
    /// Seconds to hold them once all are connected.
    #[arg(long, default_value_t = 10)]
    pub hold: u64,
    /// Written once every socket is connected (a signal for whoever measures).
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Agents' socket settings. tungstenite zero-fills its whole read buffer (128 KiB by
/// default) before every read: with one small frame per read, that memset was an eighth of
/// the machine's time in the fan-out run, time taken from the server it measures.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

/// Opens `n` sockets, 100 handshakes at a time, each waited for until its `hello`.
pub async fn connect_all(urls: Vec<String>) -> anyhow::Result<Vec<Socket>> {
    let mut sockets = Vec::with_capacity(urls.len());
    for chunk in urls.chunks(100) {
        let opened = futures_util::future::join_all(chunk.iter().map(|url| async move {
            let (mut ws, _) =
                // Nagle off (`true`): an agent's few writes (pongs) go out at once.
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(ws_config()), true)
                    .await?;
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.contains("\"hello\"") => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(anyhow::Error::from(e)),
                    None => anyhow::bail!("closed before hello"),
                }
            }
            anyhow::Ok(ws)
        }))
        .await;
        for ws in opened {
            sockets.push(ws?);
        }
    }
    Ok(sockets)
}

pub async fn sockets(args: SocketArgs) -> anyhow::Result<()> {
    let fixture = Fixture::load(&args.fixture)?;
    let urls = (0..args.sockets)
        .map(|i| fixture.ws_url(&fixture.companies[i % fixture.companies.len()].admin_token))
        .collect();
    let started = Instant::now();
    let sockets = connect_all(urls).await?;
    eprintln!(
        "sockets: {} connected in {:.1} s; holding {} s",
        sockets.len(),
        started.elapsed().as_secs_f64(),
        args.hold
    );
    if let Some(path) = &args.ready_file {
        std::fs::write(path, sockets.len().to_string())?;
    }
    // Held open: the server pings, tungstenite answers when the stream is polled.
    let holders: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} }))
        .collect();
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    for h in holders {
        h.abort();
    }
    Ok(())
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<Report> {
    let fixture = Arc::new(Fixture::load(&args.fixture)?);
    let company = fixture
        .companies
        .first()
        .ok_or_else(|| anyhow::anyhow!("the fixture has no companies"))?
        .clone();
    let sockets = connect_all(vec![fixture.ws_url(&company.admin_token); args.sockets]).await?;
    eprintln!("fanout: {} agents connected", sockets.len());

    let t0 = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let listeners: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let received = received.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let mut latencies = Latencies::new()?;
                loop {
                    let frame = tokio::select! {
                        _ = stopped.changed() => break,
                        frame = ws.next() => frame,
                    };
                    let Some(Ok(frame)) = frame else { break };
                    let Message::Text(text) = frame else { continue };
                    if !text.contains("\"message.created\"") {
                        continue;
                    }
                    if let Some(sent) = sent_micros(&text) {
                        let now = t0.elapsed().as_micros() as u64;
                        latencies.record(Duration::from_micros(now.saturating_sub(sent)));
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();

    // The poster: one webhook every 1/rate s, from customers whose seeded ticket is open.
    let http = http_client(8, Duration::from_secs(10))?;
    let pace = Duration::from_secs_f64(1.0 / args.rate);
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let (posted, post_errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut next = Instant::now();
    let mut seq: u32 = 0;
    let mut inflight = Vec::new();
    while next < deadline {
        tokio::time::sleep_until(next.into()).await;
        next += pace;
        let customer = customer_phone(0, (seq * 5 + 1) % fixture.tickets_per_company.max(1));
        let sid = format!("SMfanout{seq:010}x{}", t0.elapsed().as_nanos() % 1_000_000);
        seq += 1;
        let body = format!("fanout:{}", t0.elapsed().as_micros());
        let signed = inbound_form(&fixture, &company, &customer, &sid, &body);
        let (http, url) = (http.clone(), fixture.webhook_url());
        let (posted, post_errors) = (posted.clone(), post_errors.clone());
        inflight.push(tokio::spawn(async move {
            let res = post_inbound(&http, &url, signed).await;
            match res {
                Ok(r) if r.status() == 200 => posted.fetch_add(1, Ordering::Relaxed),
                _ => post_errors.fetch_add(1, Ordering::Relaxed),
            };
        }));
    }
    for task in inflight {
        let _ = task.await;
    }
    let expected = posted.load(Ordering::Relaxed) * args.sockets as u64;
    // Stragglers get five seconds.
    let wait_until = Instant::now() + Duration::from_secs(5);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = t0.elapsed();
    let _ = stop.send(true);
    let mut latencies = Latencies::new()?;
    for l in listeners {
        latencies.merge(&l.await??);
    }
    let got = received.load(Ordering::Relaxed);
    let missing = expected.saturating_sub(got);
    Ok(Report::new(
        "fanout",
        json!({"sockets": args.sockets, "rate": args.rate, "duration_secs": args.duration}),
        &latencies,
        missing + post_errors.load(Ordering::Relaxed),
        elapsed,
        json!({"webhooks_posted": posted.load(Ordering::Relaxed),
               "webhook_errors": post_errors.load(Ordering::Relaxed),
               "frames_expected": expected, "frames_received": got, "frames_missing": missing}),
    ))
}

/// The posting time carried in the message body (`fanout:<µs since start>`).
fn sent_micros(frame: &str) -> Option<u64> {
    let at = frame.find("fanout:")? + "fanout:".len();
    let digits: String = frame[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
