//! The dashboard in a real browser: a collector (`serve`, TLS) over a generated fleet,
//! an admin and an auditor signing in with headless Chromium. Every page is checked
//! by `browser::check_page` (no console error, no axe-core violation, a screenshot
//! under `target/browser-screenshots/dashboard-*.png`).
//!
//! Sessions, CSRF and roles are also tested through the router in-process
//! (`collector-server/src/ui/tests.rs`, with a clock the test moves for expiry).

use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::browser::{Driver, check_page, console_problems, skip};

use crate::collector::Collector;
use crate::support::bin;

/// `user add NAME --role ROLE`: the one-time password it prints.
fn add_user(c: &Collector, name: &str, role: &str) -> String {
    let out = c.cli(&["user", "add", name, "--role", role]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(password.chars().count(), 24, "{password}");
    password
}

/// Waits until the browser's address satisfies `ok`.
async fn wait_url(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = c.current_url().await.unwrap().to_string();
        if ok(&url) {
            return url;
        }
        assert!(Instant::now() < deadline, "{what}: still at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, base: &str, name: &str, password: &str) {
    c.goto(&format!("{base}/ui/login")).await.unwrap();
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("form[action='/ui/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "sign-in", |u| !u.contains("/ui/login")).await;
}

/// Waits while the page says its evaluation is under way (it loads itself again
/// until the collector shows it: a first evaluation of a date longer than the
/// collector's wait, e.g. on a loaded machine).
async fn settle(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let busy = c
            .execute(
                "return document.readyState !== 'complete' \
                 || document.querySelector('[data-evaluating]') !== null;",
                vec![],
            )
            .await
            .map_or(true, |v| v.as_bool().unwrap_or(true));
        if !busy {
            return;
        }
        assert!(Instant::now() < deadline, "the evaluation did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`check_page`] once the page is shown (see [`settle`]).
async fn check(c: &Client, name: &str) {
    settle(c).await;
    check_page(c, name).await;
}

/// Opens a page and waits for it (see [`settle`]).
async fn goto(c: &Client, url: &str) -> Result<(), fantoccini::error::CmdError> {
    c.goto(url).await?;
    settle(c).await;
    Ok(())
}

async fn text(c: &Client) -> String {
    settle(c).await;
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The counts of a control page (`ul.counts`): state class → hosts.
async fn control_counts(c: &Client) -> Value {
    settle(c).await;
    c.execute(
        "const out = {};
         document.querySelectorAll('ul.counts li').forEach(li => {
           const st = li.querySelector('.st');
           out[st.classList[1]] = parseInt(li.textContent.replace(st.textContent, '').trim());
         });
         return out;",
        vec![],
    )
    .await
    .unwrap()
}

/// A request from the page (same origin, the session cookie attached by the browser):
/// the answer's status and its Content-Disposition.
async fn fetch(c: &Client, method: &str, path: &str, body: Option<&str>) -> (u64, String) {
    let r = c
        .execute_async(
            "const [method, path, body, done] = arguments;
             const init = {method, credentials: 'same-origin', redirect: 'manual'};
             if (body !== null) {
               init.body = body;
               init.headers = {'Content-Type': 'application/x-www-form-urlencoded'};
             }
             fetch(path, init)
               .then(r => done([r.status, r.headers.get('content-disposition') || '']))
               .catch(e => done([0, String(e)]));",
            vec![json!(method), json!(path), json!(body)],
        )
        .await
        .unwrap();
    (
        r[0].as_u64().unwrap_or(0),
        r[1].as_str().unwrap_or("").to_owned(),
    )
}

/// The CSRF token the page's forms carry.
async fn page_csrf(c: &Client) -> String {
    c.find(Locator::Css("input[name='csrf']"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap()
}

#[test]
fn the_dashboard_works_for_an_admin_and_an_auditor_in_a_real_browser() {
    if skip("the_dashboard_works_for_an_admin_and_an_auditor_in_a_real_browser") {
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
    let collector = Collector::start(&data);
    let admin_pw = add_user(&collector, "ada", "admin");
    let auditor_pw = add_user(&collector, "bob", "auditor");
    let base = format!("https://127.0.0.1:{}", collector.addr.port());

    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let c = driver.session().await;

        // Not signed in: every page leads to the sign-in page.
        goto(&c, &format!("{base}/ui/hosts")).await.unwrap();
        let url = wait_url(&c, "redirect", |u| u.contains("/ui/login")).await;
        assert!(url.ends_with("/ui/login?next=/ui/hosts"), "{url}");
        check(&c, "dashboard-sign-in").await;

        // The admin: the overview, then control → host → signed report by links.
        sign_in(&c, &base, "ada", &admin_pw).await;
        assert_eq!(c.current_url().await.unwrap().path(), "/ui/");
        let overview = text(&c).await;
        assert!(overview.contains("Fleet overview"), "{overview}");
        assert!(overview.contains("12\nhosts in scope"), "{overview}");
        check(&c, "dashboard-overview").await;
        goto(&c, &format!("{base}/ui/?period=7")).await.unwrap();
        assert!(
            !c.find_all(Locator::Css("svg.spark"))
                .await
                .unwrap()
                .is_empty(),
            "no trend drawn"
        );
        check(&c, "dashboard-overview-trend").await;

        // A control some host does not satisfy.
        goto(&c, &format!("{base}/ui/")).await.unwrap();
        let control = c
            .execute(
                "for (const tr of document.querySelectorAll('table.controls tbody tr')) {
                   const n = parseInt(tr.children[3].textContent);
                   if (n > 0) return tr.querySelector('th a').getAttribute('href');
                 }
                 return null;",
                vec![],
            )
            .await
            .unwrap();
        let control = control
            .as_str()
            .expect("no control with a failing host")
            .to_owned();
        let control_id = control.trim_start_matches("/ui/controls/").to_owned();
        c.find(Locator::Css(&format!("table.controls a[href='{control}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_url(&c, "control", |u| u.contains("/ui/controls/")).await;
        let before = control_counts(&c).await;
        assert!(before["not_satisfied"].as_i64().unwrap() > 0, "{before}");
        check(&c, "dashboard-control").await;
        c.find(Locator::Css("table.list tbody td a"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_url(&c, "host", |u| u.contains("/ui/hosts/")).await;
        let host = text(&c).await;
        assert!(host.contains("Timeline"), "{host}");
        assert!(host.contains("Chain"), "{host}");
        check(&c, "dashboard-host").await;
        c.find(Locator::Css("table.facts a[href*='/reports/']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_url(&c, "evidence", |u| u.contains("/reports/")).await;
        let evidence = text(&c).await;
        assert!(evidence.contains("Signature verified"), "{evidence}");
        assert!(evidence.contains("Merkle log verified"), "{evidence}");
        assert!(evidence.contains("sha256:"), "{evidence}");
        check(&c, "dashboard-evidence").await;

        // Search and filters.
        goto(&c, &format!("{base}/ui/hosts?q=zzz-no-such-host"))
            .await
            .unwrap();
        assert!(text(&c).await.contains("0 hosts"));
        goto(&c, &format!(
            "{base}/ui/hosts?state=not_satisfied&control={control_id}"
        ))
        .await
        .unwrap();
        let rows = c
            .find_all(Locator::Css("table.list tbody tr"))
            .await
            .unwrap();
        assert_eq!(
            rows.len() as i64,
            before["not_satisfied"].as_i64().unwrap(),
            "the filter shows the control's failing hosts"
        );
        check(&c, "dashboard-hosts").await;

        // A waiver for the control on every host: its failing hosts become waived.
        goto(&c, &format!("{base}/ui/waivers")).await.unwrap();
        c.find(Locator::Css("details.panel summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Id("target"))
            .await
            .unwrap()
            .send_keys(&control_id)
            .await
            .unwrap();
        c.find(Locator::Id("justification"))
            .await
            .unwrap()
            .send_keys("Compensating control: the fleet is being migrated (ticket SEC-42)")
            .await
            .unwrap();
        c.find(Locator::Id("approver"))
            .await
            .unwrap()
            .send_keys("CISO")
            .await
            .unwrap();
        c.find(Locator::Css("form[action='/ui/waivers'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_url(&c, "waiver added", |u| u.contains("done=wvr_")).await;
        check(&c, "dashboard-waivers").await;
        goto(&c, &format!("{base}{control}")).await.unwrap();
        let waived = control_counts(&c).await;
        assert_eq!(waived["not_satisfied"], 0, "{waived}");
        assert_eq!(
            waived["waived"].as_i64().unwrap(),
            before["waived"].as_i64().unwrap() + before["not_satisfied"].as_i64().unwrap(),
            "{before} → {waived}"
        );
        // Revoke it (the page asks to confirm): the control is as before.
        goto(&c, &format!("{base}/ui/waivers")).await.unwrap();
        c.find(Locator::Css("form[action$='/revoke'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.accept_alert().await.unwrap();
        wait_url(&c, "waiver revoked", |u| u.contains("done=revoked")).await;
        goto(&c, &format!("{base}{control}")).await.unwrap();
        assert_eq!(control_counts(&c).await, before);

        // Agents: an enrollment token, shown once.
        goto(&c, &format!("{base}/ui/agents")).await.unwrap();
        c.find(Locator::Css("form[action='/ui/enroll-tokens'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The click posts a form: wait for the page it leads to, not the one left.
        let token = c
            .wait()
            .at_most(std::time::Duration::from_secs(30))
            .for_element(Locator::Css("code.token"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(token.starts_with("et_"), "{token}");
        check(&c, "dashboard-agents").await;

        // Downloads: the CSV report, made by an export job whose page shows its
        // progress and then the link to the file.
        goto(&c, &format!("{base}/ui/downloads")).await.unwrap();
        check(&c, "dashboard-downloads").await;
        c.find(Locator::Id("format"))
            .await
            .unwrap()
            .select_by_value("csv")
            .await
            .unwrap();
        c.find(Locator::Css("form[action='/ui/downloads'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let job = wait_url(&c, "export job", |u| u.contains("/ui/downloads/jobs/")).await;
        let id = job.rsplit('/').next().unwrap().to_owned();
        assert!(
            id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{job}"
        );
        let link = c
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("#job a[href$='/file']"))
            .await
            .unwrap();
        let href = link.attr("href").await.unwrap().unwrap();
        assert_eq!(href, format!("/ui/downloads/jobs/{id}/file"));
        let status_text = c
            .find(Locator::Css("#job[role='status']"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(status_text.contains("Ready"), "{status_text}");
        assert!(text(&c).await.contains("CSV report"));
        check(&c, "dashboard-download-job").await;
        let (status, disposition) = fetch(&c, "GET", &href, None).await;
        assert_eq!(status, 200, "{disposition}");
        assert!(
            disposition.starts_with("attachment; filename=\"attest-report-")
                && disposition.ends_with(".csv\""),
            "{disposition}"
        );

        // A POST without the CSRF token is refused, and changes nothing.
        let (status, _) = fetch(
            &c,
            "POST",
            "/ui/waivers",
            Some("kind=control&target=8.24&justification=x&approver=y&expires=2099-01-01"),
        )
        .await;
        assert_eq!(status, 403);
        let _ = console_problems(&c).await; // the refused request's console line

        // The audit log has the sign-in and both waiver actions.
        goto(&c, &format!("{base}/ui/audit")).await.unwrap();
        let audit = text(&c).await;
        for action in [
            "session.sign_in",
            "waiver.add",
            "waiver.revoke",
            "enroll_token.create",
        ] {
            assert!(audit.contains(action), "{action}: {audit}");
        }
        assert!(!audit.contains(&admin_pw), "a password in the audit log");
        check(&c, "dashboard-audit").await;

        // Sign out; the copied cookie then opens nothing.
        let stolen = c.get_named_cookie("attest_session").await.unwrap();
        c.find(Locator::Css("form.who button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_url(&c, "signed out", |u| u.contains("done=out")).await;
        c.add_cookie(stolen).await.unwrap();
        goto(&c, &format!("{base}/ui/audit")).await.unwrap();
        wait_url(&c, "stolen cookie", |u| u.contains("/ui/login")).await;

        // The auditor reads everything, sees no admin action, and a forged POST with
        // their own valid CSRF token is refused.
        sign_in(&c, &base, "bob", &auditor_pw).await;
        for (path, name) in [
            ("/ui/", "auditor-overview"),
            (control.as_str(), "auditor-control"),
            ("/ui/hosts", "auditor-hosts"),
            ("/ui/waivers", "auditor-waivers"),
            ("/ui/agents", "auditor-agents"),
            ("/ui/audit", "auditor-audit"),
            ("/ui/downloads", "auditor-downloads"),
        ] {
            goto(&c, &format!("{base}{path}")).await.unwrap();
            let page = c.source().await.unwrap();
            assert!(!page.contains("Add a waiver"), "{path}");
            assert!(
                !page.contains("class=\"danger\""),
                "{path}: a revoke button"
            );
            assert!(!page.contains("/ui/enroll-tokens"), "{path}");
            check(&c, &format!("dashboard-{name}")).await;
        }
        let csrf = page_csrf(&c).await;
        let (status, _) = fetch(
            &c,
            "POST",
            "/ui/waivers",
            Some(&format!(
                "csrf={csrf}&kind=control&target=8.24&justification=x&approver=y&expires=2099-01-01"
            )),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _) = fetch(
            &c,
            "POST",
            "/ui/enroll-tokens",
            Some(&format!("csrf={csrf}&uses=1&days=1")),
        )
        .await;
        assert_eq!(status, 403);
        let _ = console_problems(&c).await;

        // Keyboard: every link and form control of a page is reachable with Tab.
        for path in ["/ui/", "/ui/waivers", "/ui/downloads"] {
            goto(&c, &format!("{base}{path}")).await.unwrap();
            let unreachable = c
                .execute(
                    "return Array.from(document.querySelectorAll('a[href], button, input, select, textarea, summary'))
                       .filter(e => e.type !== 'hidden' && (e.tabIndex < 0 || e.disabled)).length;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(unreachable, 0, "{path}");
        }

        // An idle session ends: a collector on the same database whose sessions end
        // after 3 s without a request.
        let config = crate::collector::write_config(
            tmp.path(),
            "version = 1\n[dashboard]\nsession_idle = \"3s\"\nsession_lifetime = \"1h\"\n",
        );
        let short = Collector::start_with(&data, None, Some(&config));
        let short_base = format!("https://127.0.0.1:{}", short.addr.port());
        sign_in(&c, &short_base, "ada", &admin_pw).await;
        goto(&c, &format!("{short_base}/ui/audit")).await.unwrap();
        assert!(c.current_url().await.unwrap().path().ends_with("/ui/audit"));
        tokio::time::sleep(Duration::from_millis(3500)).await;
        goto(&c, &format!("{short_base}/ui/audit")).await.unwrap();
        wait_url(&c, "idle session", |u| u.contains("/ui/login")).await;
        c.close().await.unwrap();
    });
    let log = collector.log_text();
    assert!(
        !log.contains(&admin_pw) && !log.contains(&auditor_pw),
        "a password in the log"
    );
}
