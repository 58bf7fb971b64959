//! The `omni-server` binary as an operator runs it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omni_store_postgres::test_db::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_omni-server");

/// The binary with a clean environment and an empty working directory (no omni.toml).
fn omni(args: &[&str], env: &[(&str, &str)]) -> Command {
    let dir = std::env::temp_dir().join(format!("omni-bin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .current_dir(dir)
        .envs(env.iter().copied());
    cmd
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("omni-server did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_configuration_ends_with_one_clear_line() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("OMNI_PROFILE", "production")],
            "OMNI_HTTP__PUBLIC_BASE_URL",
        ),
        (
            &[
                ("OMNI_PROFILE", "production"),
                ("OMNI_HTTP__PUBLIC_BASE_URL", "https://omni.example.com"),
            ],
            "OMNI_AUTH__JWT_SECRET",
        ),
        (
            &[
                ("OMNI_PROFILE", "production"),
                ("OMNI_HTTP__PUBLIC_BASE_URL", "https://omni.example.com"),
                ("OMNI_AUTH__JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ],
            "OMNI_CRYPTO__SECRET_KEY",
        ),
        (
            &[("DATABASE_URL", "postgres://host:notaport/db")],
            "database.url",
        ),
        (&[("OMNI_HTTP__BIND", "everywhere")], "http.bind"),
    ];
    for (env, expect) in cases {
        let out = omni(&["serve"], env).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{env:?}: {stderr}");
        assert!(stderr.contains(expect), "{env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_applies_the_schema_once() {
    let db = TestDatabase::empty().await.unwrap();
    let env = [("DATABASE_URL", db.url()), ("OMNI_LOG__FORMAT", "json")];
    let first = omni(&["migrate"], &env).output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied migrations"));
    let second = omni(&["migrate"], &env).output().unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("schema is up to date"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_migrates_answers_and_stops_gracefully_on_sigterm() {
    let db = TestDatabase::empty().await.unwrap();
    let mut child = omni(
        &[],
        &[
            ("DATABASE_URL", db.url()),
            ("OMNI_HTTP__BIND", "127.0.0.1:0"),
            ("OMNI_LOG__FORMAT", "json"),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();

    // The port is in the "omni is serving" log line.
    let stdout = child.stdout.take().unwrap();
    let port = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "omni is serving" {
                return v["port"].as_u64().unwrap();
            }
        }
        panic!("the server never said it was serving");
    })
    .await
    .unwrap();

    crate::helpers::init_tls();
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/health/ready"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status =
        tokio::task::spawn_blocking(move || wait_with_timeout(&mut child, Duration::from_secs(15)))
            .await
            .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// `deploy/local-db.sh` (what `make run` and `make test` use without `DATABASE_URL`): a
/// changed `OMNI_PG_PORT` moves the throwaway cluster, running or stopped, instead of
/// leaving it on the port it was made with.
#[test]
fn the_throwaway_cluster_follows_a_changed_port() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local-db.sh");
    let dir = std::env::temp_dir().join(format!("omni-local-db-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string()
    };
    let run = |port: &str, what: &[&str]| {
        let out = Command::new("bash")
            .arg(script)
            .args(what)
            .env("OMNI_PG_DIR", &dir)
            .env("OMNI_PG_PORT", port)
            .env("OMNI_PG_PROBE", "")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let answers = |port: &str| std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok();
    let (first, second, third) = (free_port(), free_port(), free_port());
    assert!(run(&first, &["url", "postgres"]).contains(&format!(":{first}/")));
    // Running: it moves.
    assert!(run(&second, &["url", "postgres"]).contains(&format!(":{second}/")));
    assert!(answers(&second) && !answers(&first));
    run(&second, &["stop"]);
    // Stopped: it starts on the new port.
    assert!(run(&third, &["url", "postgres"]).contains(&format!(":{third}/")));
    assert!(answers(&third));
    run(&third, &["stop"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn simulate_inbound_posts_a_message_signed_as_twilio_signs_it() {
    let (world, admin) = crate::console::World::new().await;
    let port = world.server.as_ref().unwrap().port;
    let bind = format!("127.0.0.1:{port}");
    let env = [
        ("DATABASE_URL", world.db.url()),
        ("OMNI_HTTP__BIND", bind.as_str()),
        ("OMNI_HTTP__PUBLIC_BASE_URL", "https://omni.test"),
        ("OMNI_AUTH__JWT_SECRET", world.secrets.0.as_str()),
        ("OMNI_CRYPTO__SECRET_KEY", world.secrets.1.as_str()),
        ("OMNI_LOG__LEVEL", "warn"),
    ];
    let customer = "+5511987650099";
    let out = omni(
        &[
            "simulate-inbound",
            "--to",
            crate::console::OUR_NUMBER,
            "--from",
            customer,
            "--name",
            "Bia Rocha",
            "--text",
            "Oi, vocês entregam no sábado?",
        ],
        &env,
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("delivered SM"), "{stdout}");
    // The server took it as Twilio's: a ticket with the customer's name and words.
    let token = admin["token"].as_str().unwrap().to_owned();
    let page = world
        .call(
            "GET",
            "/tickets?customer_phone=%2B5511987650099",
            Some(&token),
            serde_json::Value::Null,
        )
        .await;
    let ticket = &page["data"][0];
    assert_eq!(ticket["customer_name"], "Bia Rocha", "{page}");
    let messages = world
        .call(
            "GET",
            &format!("/ticket-messages?ticket_id={}", ticket["id"]),
            Some(&token),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(
        messages["data"][0]["content"],
        "Oi, vocês entregam no sábado?"
    );

    // A number no integration has is named, and nothing is posted.
    let out = omni(
        &[
            "simulate-inbound",
            "--to",
            "+15550000000",
            "--from",
            customer,
            "--text",
            "oi",
        ],
        &env,
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no enabled Twilio integration has the number +15550000000"),
        "{stderr}"
    );
}
