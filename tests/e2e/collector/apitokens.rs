//! API tokens: `apitoken create --expires`, `list`, `revoke`; a revoked or expired
//! token is refused at once, on every collector instance.

use std::process::Output;
use std::time::{Duration, Instant};

use attest_sim::client::Client;

use super::{Collector, fresh_postgres};

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `apitoken create ARGS…`: the secret (stdout), its id (stderr), and when the
/// command had returned (the expiry counts from before that).
fn create(c: &Collector, args: &[&str]) -> (String, String, Instant) {
    let mut all = vec!["apitoken", "create"];
    all.extend(args);
    let out = c.cli(&all);
    let done = Instant::now();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let id = stderr
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();
    (stdout.trim().to_owned(), id, done)
}

async fn status(client: &Client, token: &str) -> (u16, Option<String>) {
    let resp = client.get("/v1/agents", Some(token)).await.unwrap();
    (resp.status.as_u16(), resp.error_code())
}

fn unauthorized() -> (u16, Option<String>) {
    (401, Some("unauthorized".into()))
}

/// The `apitoken list` row of `id`, split on runs of two or more spaces.
fn row(listing: &str, id: &str) -> Vec<String> {
    let line = listing
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} not in\n{listing}"));
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn wait_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_create_list_revoke_expire() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let client = c.client();
    let (reader, reader_id, _) = create(&c, &["--role", "auditor", "--note", "ci reader"]);
    let (admin, admin_id, _) = create(&c, &["--role", "admin"]);
    let (brief, brief_id, created) = create(
        &c,
        &[
            "--role",
            "auditor",
            "--note",
            "short-lived",
            "--expires",
            "5s",
        ],
    );
    assert_eq!(status(&client, &reader).await.0, 200);
    assert_eq!(status(&client, &brief).await.0, 200);

    // The listing: every column, never the secret.
    let out = c.cli(&["apitoken", "list"]);
    assert!(out.status.success());
    let (listing, stderr) = text(&out);
    let header: Vec<&str> = listing
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "ID",
            "ROLE",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "REVOKED",
            "NOTE"
        ]
    );
    let r = row(&listing, &reader_id);
    assert_eq!((r[1].as_str(), r[6].as_str()), ("auditor", "ci reader"));
    assert!(r[2].ends_with('Z'), "{r:?}");
    assert_eq!((r[3].as_str(), r[5].as_str()), ("-", "-"));
    assert!(r[4].ends_with('Z'), "last use recorded: {r:?}");
    let a = row(&listing, &admin_id);
    assert_eq!((a[1].as_str(), a[4].as_str()), ("admin", "-"), "never used");
    let b = row(&listing, &brief_id);
    assert!(b[3].ends_with('Z') && b[3] != b[2], "{b:?}");
    for secret in [&reader, &admin, &brief] {
        assert!(!listing.contains(secret.as_str()) && !stderr.contains(secret.as_str()));
        assert!(!listing.contains(&secret[3..]));
    }

    // Revoked: 401 from the next request on; twice is an error.
    let out = c.cli(&["apitoken", "revoke", &reader_id]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(status(&client, &reader).await, unauthorized());
    let out = c.cli(&["apitoken", "revoke", &reader_id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("no live API token"),
        "{}",
        text(&out).1
    );
    let out = c.cli(&["apitoken", "revoke", "key_nope"]);
    assert_eq!(out.status.code(), Some(1));
    let listing = text(&c.cli(&["apitoken", "list"])).0;
    assert!(row(&listing, &reader_id)[5].ends_with('Z'), "{listing}");

    // Expired: 401 once its time is up.
    wait_until(created + Duration::from_millis(5300));
    assert_eq!(status(&client, &brief).await, unauthorized());
    assert_eq!(status(&client, &admin).await.0, 200);

    // Bad durations are usage errors.
    let out = c.cli(&["apitoken", "create", "--role", "auditor", "--expires", "0s"]);
    assert_eq!(out.status.code(), Some(2));
    let out = c.cli(&[
        "apitoken",
        "create",
        "--role",
        "auditor",
        "--expires",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));

    // Every admin action is in the audit log.
    let audit = client.get("/v1/audit", Some(&admin)).await.unwrap().json();
    let entries = audit["entries"].as_array().unwrap();
    let find = |action: &str, target: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["target"] == target)
            .count()
    };
    assert_eq!(find("api_token.create", &reader_id), 1);
    assert_eq!(find("api_token.create", &brief_id), 1);
    assert_eq!(find("api_token.revoke", &reader_id), 1);
    let created_brief = entries
        .iter()
        .find(|e| e["action"] == "api_token.create" && e["target"] == brief_id.as_str())
        .unwrap();
    assert!(
        created_brief["detail"]
            .as_str()
            .unwrap()
            .contains("expires_at=Some("),
        "{created_brief}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("cli:"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn revoked_and_expired_tokens_fail_on_every_instance() {
    let url = fresh_postgres("apitokens").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = Collector::start_with(&data, Some(&url), None);
    let second = Collector::start_with(&data, Some(&url), None);
    let (ca, cb) = (first.client(), second.client());
    let (kept, _, _) = create(&first, &["--role", "auditor"]);
    let (doomed, doomed_id, _) = create(&first, &["--role", "auditor"]);
    let (brief, brief_id, created) = create(&first, &["--role", "auditor", "--expires", "4s"]);
    for client in [&ca, &cb] {
        for token in [&kept, &doomed, &brief] {
            assert_eq!(status(client, token).await.0, 200);
        }
    }

    // Revoked through the first instance's database: both refuse it at once.
    let out = first.cli(&["apitoken", "revoke", &doomed_id]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(status(&cb, &doomed).await, unauthorized());
    assert_eq!(status(&ca, &doomed).await, unauthorized());

    // Expired: refused by both.
    wait_until(created + Duration::from_millis(4300));
    assert_eq!(status(&cb, &brief).await, unauthorized());
    assert_eq!(status(&ca, &brief).await, unauthorized());
    // The others still work on both.
    assert_eq!(status(&ca, &kept).await.0, 200);
    assert_eq!(status(&cb, &kept).await.0, 200);

    let listing = text(&second.cli(&["apitoken", "list"])).0;
    assert!(row(&listing, &doomed_id)[5].ends_with('Z'), "{listing}");
    assert!(row(&listing, &brief_id)[3].ends_with('Z'), "{listing}");
}
