//! Browser tests: pages the collector writes or serves, opened in a real headless
//! Chromium through chromedriver (WebDriver, the `fantoccini` client): no console
//! error, an accessibility check by axe-core (WCAG 2 A and AA rules) with no
//! violation, and a screenshot of each page kept under `target/browser-screenshots/`
//! to be looked at.
//!
//! Needs Debian's `chromium` and `chromium-driver` and axe-core from the npm registry
//! (`.ci/run` installs all three; axe-core into `target/browser/node_modules`, or
//! wherever `ATTEST_AXE_JS` points). Without them the tests print SKIP and pass,
//! except under CI (`CI=true`), where a missing browser is a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use crate::support::{bin, bin_dir};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The axe-core script, when it can be found.
fn axe_js() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ATTEST_AXE_JS") {
        return Some(PathBuf::from(p));
    }
    let p = target_dir().join("browser/node_modules/axe-core/axe.min.js");
    p.is_file().then_some(p)
}

/// `target/` (the parent of `target/debug`).
fn target_dir() -> PathBuf {
    bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(bin_dir)
}

/// Why the browser tests cannot run here, if they cannot.
fn missing() -> Option<String> {
    let mut why = Vec::new();
    for p in [CHROMEDRIVER, CHROMIUM] {
        if !Path::new(p).exists() {
            why.push(format!(
                "{p} not found (apt-get install chromium chromium-driver)"
            ));
        }
    }
    if axe_js().is_none() {
        why.push(
            "axe-core not found (npm install --prefix target/browser axe-core, or set ATTEST_AXE_JS)"
                .to_owned(),
        );
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Whether to skip: prints why; under CI a missing browser fails instead.
pub(crate) fn skip(test: &str) -> bool {
    let Some(why) = missing() else {
        return false;
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "browser test {test} cannot run under CI: {why}"
    );
    eprintln!("SKIP {test}: {why}");
    true
}

/// chromedriver on a free loopback port, stopped on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub(crate) fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session that keeps the console log.
    pub(crate) async fn session(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1600",
                         "--force-color-profile=srgb",
                         // The collector's self-signed certificate (tests only).
                         "--ignore-certificate-errors"],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap();
        // axe-core over a long report on a loaded CI machine takes its time.
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(240)),
                Some(Duration::from_secs(60)),
                None,
            ))
            .await
            .unwrap();
        client
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's console log of the page (`POST /session/{id}/se/log`), entries
/// since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// The console entries at level SEVERE or WARNING since the last call.
pub(crate) async fn console_problems(client: &Client) -> Vec<Value> {
    let log = client.issue_cmd(BrowserLog).await.unwrap();
    log.as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// axe-core's WCAG 2.0/2.1 A and AA rules over the page: the violations (id, impact,
/// help, the first nodes), after checking that axe ran and passed some rules.
async fn axe_violations(client: &Client, name: &str) -> Vec<Value> {
    let axe = std::fs::read_to_string(axe_js().unwrap()).unwrap();
    client.execute(&axe, vec![]).await.unwrap();
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                .then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                    help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})),
                    passes: r.passes.length}))
                .catch(e => done({error: String(e)}));",
            vec![],
        )
        .await
        .unwrap();
    assert!(result.get("error").is_none(), "{name}: axe-core: {result}");
    assert!(
        result["passes"].as_u64().unwrap_or(0) > 0,
        "{name}: axe-core checked nothing: {result}"
    );
    result["violations"].as_array().cloned().unwrap_or_default()
}

/// What a page must be: no console error or warning, no axe-core violation; its
/// screenshot saved as `target/browser-screenshots/NAME.png`.
pub(crate) async fn check_page(client: &Client, name: &str) {
    let problems = console_problems(client).await;
    assert!(problems.is_empty(), "{name}: console: {problems:#?}");
    let violations = axe_violations(client, name).await;
    assert!(
        violations.is_empty(),
        "{name}: accessibility violations: {}",
        serde_json::to_string_pretty(&violations).unwrap()
    );
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
    let dir = target_dir().join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
}

/// The checks see what they are for: a page with an unlabelled field and a script
/// error fails both (so a clean page passing them means something).
#[test]
fn the_browser_checks_catch_a_bad_page() {
    if skip("the_browser_checks_catch_a_bad_page") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("bad.html");
    std::fs::write(
        &page,
        "<!doctype html><html><head><title>bad</title></head><body>\
         <input type=text><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = driver.session().await;
        client
            .goto(&format!("file://{}", page.display()))
            .await
            .unwrap();
        let console = console_problems(&client).await;
        assert!(
            console
                .iter()
                .any(|e| e["message"].as_str().is_some_and(|m| m.contains("boom"))),
            "{console:?}"
        );
        let violations = axe_violations(&client, "bad").await;
        let ids: Vec<&str> = violations.iter().filter_map(|v| v["id"].as_str()).collect();
        assert!(ids.contains(&"label"), "{ids:?}");
        assert!(ids.contains(&"html-has-lang"), "{ids:?}");
        client.close().await.unwrap();
    });
}

/// The auditor's HTML report of a generated fleet (`attest-fleetgen`: 12 hosts, two
/// rounds, failing checks and waivers as a real fleet has them) opens without a
/// console error, passes axe-core, and can be navigated by keyboard: every link and
/// control is reachable with Tab.
#[test]
fn the_html_report_is_clean_in_a_real_browser() {
    if skip("the_html_report_is_clean_in_a_real_browser") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fleet");
    let made = Command::new(bin("attest-fleetgen"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--hosts", "12", "--rounds", "2"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let html = tmp.path().join("report.html");
    let out = Command::new(bin("attest-collector"))
        .arg("--data-dir")
        .arg(&data)
        .args(["report", "--format", "html", "--out"])
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = driver.session().await;
        client
            .goto(&format!("file://{}", html.display()))
            .await
            .unwrap();
        let title = client.title().await.unwrap();
        assert!(!title.is_empty(), "the report has no title");
        check_page(&client, "report-html").await;
        // Keyboard: Tab reaches every link of the page, in order, from the top.
        let links = client
            .execute("return document.querySelectorAll('a[href], button, input, select, textarea').length;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        assert!(links > 0, "the report has no link to follow");
        let reached = client
            .execute(
                "const all = Array.from(document.querySelectorAll('a[href], button, input, select, textarea'));
                 return all.filter(e => e.tabIndex >= 0 && !e.disabled).length;",
                vec![],
            )
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        assert_eq!(reached, links, "some links or controls cannot be reached by keyboard");
        client.close().await.unwrap();
    });
}
