//! The dashboard's sign-in, sessions, CSRF and roles, driven through the router
//! in-process with a clock the test moves. (The pages in a real browser:
//! `tests/e2e/dashboard.rs`.)

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::*;
use crate::clock::FixedClock;
use crate::store::Role;

const T0: Millis = 1_790_000_000_000;
const PASSWORD: &str = "a long passphrase";

struct Ui {
    state: Arc<UiState>,
    clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
}

async fn ui() -> Ui {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let stores = crate::store::reporting::open(&url, 2).await.unwrap();
    let s = stores.store.as_ref();
    accounts::add_user(s, T0, "cli:test", "ada", Role::Admin, PASSWORD)
        .await
        .unwrap();
    accounts::add_user(s, T0, "cli:test", "bob", Role::Auditor, PASSWORD)
        .await
        .unwrap();
    let clock = Arc::new(FixedClock::at(T0));
    let state = UiState::new(
        stores,
        Arc::new(Catalog::builtin().unwrap()),
        Arc::clone(&clock) as Arc<dyn Clock>,
        attest_proto::SigningKey::from_bytes(&[7; 32]),
        dir.path().to_path_buf(),
    );
    // Pages wait for their evaluation here (a loaded test machine is slow); the
    // page shown while one is under way has its own test.
    let state = UiState {
        evaluation_wait: std::time::Duration::from_secs(60),
        ..state
    };
    Ui {
        state: Arc::new(state),
        clock,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    location: String,
    set_cookie: String,
    content_type: String,
    disposition: String,
    body: String,
    bytes: Vec<u8>,
}

impl Ui {
    async fn send(&self, req: Request<Body>) -> Answer {
        let res = router(Arc::clone(&self.state)).oneshot(req).await.unwrap();
        let header_text = |h| {
            res.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let location = header_text(header::LOCATION);
        let set_cookie = header_text(header::SET_COOKIE);
        let content_type = header_text(header::CONTENT_TYPE);
        let disposition = header_text(header::CONTENT_DISPOSITION);
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 22)
            .await
            .unwrap();
        Answer {
            status,
            location,
            set_cookie,
            content_type,
            disposition,
            body: String::from_utf8_lossy(&body).into_owned(),
            bytes: body.to_vec(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut b = Request::get(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, format!("attest_session={c}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &str) -> Answer {
        let mut b =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, format!("attest_session={c}"));
        }
        self.send(b.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Signs in; the session token from the cookie.
    async fn sign_in(&self, name: &str) -> String {
        let a = self
            .post(
                "/ui/login",
                None,
                &format!("name={name}&password=a+long+passphrase&next=%2Fui%2Fwaivers"),
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location, "/ui/waivers");
        for part in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/ui/"] {
            assert!(a.set_cookie.contains(part), "{}", a.set_cookie);
        }
        a.set_cookie
            .strip_prefix("attest_session=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_owned()
    }

    /// The CSRF token of a signed-in page.
    async fn csrf(&self, cookie: &str) -> String {
        let page = self.get("/ui/audit", Some(cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        let at = page.body.find("name=\"csrf\" value=\"").unwrap() + 19;
        page.body[at..at + 64].to_owned()
    }

    /// Starts a download job (`form` without the CSRF token); the answer.
    async fn start_job(&self, cookie: &str, form: &str) -> Answer {
        let csrf = self.csrf(cookie).await;
        self.post(
            "/ui/downloads",
            Some(cookie),
            &format!("csrf={csrf}&{form}"),
        )
        .await
    }

    /// The job's page once the job no longer runs.
    async fn finished_job(&self, page: &str, cookie: &str) -> Answer {
        for _ in 0..1000 {
            let a = self.get(page, Some(cookie)).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            if !a.body.contains("data-running") {
                return a;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{page} still running");
    }

    async fn waiver_count(&self) -> usize {
        self.state.stores.reports.waivers().await.unwrap().len()
    }
}

fn waiver_form(csrf: &str) -> String {
    format!(
        "csrf={csrf}&kind=control&target=8.24&hosts=&justification=legacy+NAS&approver=CISO&expires=2099-01-01"
    )
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_goes_back_where_asked() {
    let ui = ui().await;
    let a = ui.get("/ui/hosts?q=web", None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location, "/ui/login?next=/ui/hosts");
    // A wrong password: no cookie, the form again with a message.
    let a = ui
        .post(
            "/ui/login",
            None,
            "name=ada&password=wrong+passphrase&next=%2Fui%2F",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.set_cookie.is_empty());
    assert!(
        a.body.contains("name or the password is wrong"),
        "{}",
        a.body
    );
    // `next` never leads off the dashboard.
    let a = ui
        .post(
            "/ui/login",
            None,
            "name=ada&password=a+long+passphrase&next=https%3A%2F%2Fevil.example%2F",
        )
        .await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (StatusCode::SEE_OTHER, "/ui/")
    );
    let cookie = ui.sign_in("ada").await;
    let page = ui.get("/ui/audit", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("session.sign_in"), "{}", page.body);
    // Every page forbids framing and inline script, and is not cached.
    let res = router(Arc::clone(&ui.state))
        .oneshot(Request::get("/ui/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let h = res.headers();
    assert!(
        h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let ui = ui().await;
    let cookie = ui.sign_in("ada").await;
    for form in [
        waiver_form(""),
        waiver_form(&"0".repeat(64)),
        "kind=control&target=8.24&justification=x&approver=y&expires=2099-01-01".to_owned(),
    ] {
        let a = ui.post("/ui/waivers", Some(&cookie), &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form}");
    }
    assert_eq!(ui.waiver_count().await, 0);
    // Another session's token does not do either.
    let other = ui.sign_in("ada").await;
    let other_csrf = ui.csrf(&other).await;
    let a = ui
        .post("/ui/waivers", Some(&cookie), &waiver_form(&other_csrf))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(ui.waiver_count().await, 0);
    // With its own: done.
    let csrf = ui.csrf(&cookie).await;
    let a = ui
        .post("/ui/waivers", Some(&cookie), &waiver_form(&csrf))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(ui.waiver_count().await, 1);
}

#[tokio::test]
async fn an_auditor_reads_but_a_forged_admin_post_is_refused() {
    let ui = ui().await;
    let cookie = ui.sign_in("bob").await;
    let csrf = ui.csrf(&cookie).await;
    let page = ui.get("/ui/waivers", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("Add a waiver"),
        "the form is shown to an auditor"
    );
    let page = ui.get("/ui/agents", Some(&cookie)).await;
    assert!(!page.body.contains("/ui/enroll-tokens"));
    // Forged POSTs with the auditor's own, valid CSRF token.
    let a = ui
        .post("/ui/waivers", Some(&cookie), &waiver_form(&csrf))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = ui
        .post(
            "/ui/enroll-tokens",
            Some(&cookie),
            &format!("csrf={csrf}&uses=5&days=7"),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(!a.body.contains("et_"));
    assert_eq!(ui.waiver_count().await, 0);
    assert!(
        ui.state
            .stores
            .store
            .list_enroll_tokens()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_cookie_stops_working_at_sign_out_idle_and_absolute_expiry() {
    let ui = ui().await;
    // Sign-out: the copied cookie is refused afterwards.
    let stolen = ui.sign_in("ada").await;
    let csrf = ui.csrf(&stolen).await;
    let a = ui
        .post("/ui/logout", Some(&stolen), &format!("csrf={csrf}"))
        .await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (StatusCode::SEE_OTHER, "/ui/login?done=out")
    );
    assert!(a.set_cookie.contains("Max-Age=0"));
    let a = ui.get("/ui/audit", Some(&stolen)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.location.starts_with("/ui/login"));

    // Idle: 29 minutes between requests keep it; 30 without one end it.
    let cookie = ui.sign_in("ada").await;
    ui.clock.set(T0 + 29 * 60_000);
    assert_eq!(
        ui.get("/ui/audit", Some(&cookie)).await.status,
        StatusCode::OK
    );
    ui.clock.set(T0 + 58 * 60_000);
    assert_eq!(
        ui.get("/ui/audit", Some(&cookie)).await.status,
        StatusCode::OK
    );
    ui.clock.set(T0 + 88 * 60_000 + 1);
    assert_eq!(
        ui.get("/ui/audit", Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );

    // Absolute: 12 hours after sign-in, however busy.
    ui.clock.set(T0 + 100 * 60_000);
    let cookie = ui.sign_in("ada").await;
    let mut t = T0 + 100 * 60_000;
    while t < T0 + 100 * 60_000 + 12 * 3_600_000 - 20 * 60_000 {
        t += 20 * 60_000;
        ui.clock.set(t);
        assert_eq!(
            ui.get("/ui/audit", Some(&cookie)).await.status,
            StatusCode::OK
        );
    }
    ui.clock.set(T0 + 100 * 60_000 + 12 * 3_600_000);
    assert_eq!(
        ui.get("/ui/audit", Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );

    // A disabled user's live session ends at once.
    let cookie = ui.sign_in("bob").await;
    accounts::disable_user(
        ui.state.stores.store.as_ref(),
        ui.state.now(),
        "cli:test",
        "bob",
    )
    .await
    .unwrap();
    assert_eq!(
        ui.get("/ui/audit", Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn sign_in_is_throttled_per_account_and_per_client() {
    let ui = ui().await;
    let started = std::time::Instant::now();
    // Five attempts for one name, then 429 even with the right password.
    for _ in 0..5 {
        let a = ui
            .post(
                "/ui/login",
                None,
                "name=ada&password=wrong+passphrase&next=",
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = ui
        .post(
            "/ui/login",
            None,
            "name=ada&password=a+long+passphrase&next=",
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.set_cookie.is_empty());
    assert!(a.body.contains("Too many sign-in attempts"));
    // The other account is not locked by it, until the client's own budget (20) goes.
    // The client's own budget: a burst of 20, refilled one every 3 s (of real time:
    // each refused attempt spends argon2's work first, so the refill is counted).
    let mut answered = 0u64;
    let mut throttled = false;
    for i in 0..80 {
        let a = ui
            .post(
                "/ui/login",
                None,
                &format!("name=user{i}&password=wrong+passphrase&next="),
            )
            .await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        answered += 1;
    }
    assert!(throttled, "never throttled per client");
    // 6 attempts above; the burst of 20 and what refilled meanwhile.
    let budget = 20 - 6 + (started.elapsed().as_secs_f64() / 3.0).ceil() as u64 + 1;
    assert!(answered <= budget, "{answered} answered, budget {budget}");
    let refused = ui
        .state
        .stores
        .store
        .audit_log(100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "session.sign_in_refused")
        .count();
    // Throttled attempts never reach the password check (nor the audit log).
    assert_eq!(refused as u64, 5 + answered);
}

#[tokio::test]
async fn the_trend_is_drawn_from_day_counts_and_a_period_too_large_is_not_downloaded() {
    let mut ui = ui().await;
    crate::testkit::enroll(ui.state.stores.store.as_ref(), 5, 3, T0 - 3 * 86_400_000)
        .await
        .unwrap();
    let cookie = ui.sign_in("ada").await;
    // Before the filler ran: the days show as gaps and the page says so.
    let page = ui.get("/ui/?period=7", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("7 of the 8 days of the trend are still being counted"),
        "{}",
        page.body
    );
    assert_eq!(super::trend::fill(&ui.state).await.unwrap(), 90);
    let page = ui.get("/ui/?period=7", Some(&cookie)).await;
    assert!(!page.body.contains("still being counted"), "{}", page.body);
    assert!(page.body.contains("svg class=\"spark\""));
    // No report, every host not assessed: 0 % satisfied from the day they enrolled.
    assert!(
        page.body
            .contains("hosts satisfied: 0% at the start of the period, 0% at its end")
    );
    // 3 hosts × 7 days = 21 host-days: the period report is made under the default
    // bound, not under 20; the trend is drawn either way.
    Arc::get_mut(&mut ui.state).unwrap().max_period_host_days = 20;
    let page = ui.get("/ui/?period=7", Some(&cookie)).await;
    assert!(page.body.contains("svg class=\"spark\""));
    // The period downloads: the job says why not.
    for form in ["kind=report&format=csv&period=7", "kind=bundle&period=7"] {
        let a = ui.start_job(&cookie, form).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{form}: {}", a.body);
        let page = ui.finished_job(&a.location, &cookie).await;
        assert!(page.body.contains("It could not be made"), "{form}");
        assert!(
            page.body
                .contains("The period report over 7 days of 3 hosts is not made here"),
            "{form}: {}",
            page.body
        );
        assert!(!page.body.contains("/file\""), "{form}: a file offered");
    }
    // Without a period, the download is made.
    let a = ui.start_job(&cookie, "kind=report&format=csv").await;
    let page = ui.finished_job(&a.location, &cookie).await;
    assert!(page.body.contains("Ready:"), "{}", page.body);
}

/// Three hosts that reported 2 hours before T0.
async fn reported(ui: &Ui) {
    let s = ui.state.stores.store.as_ref();
    let mut agents = crate::testkit::enroll(s, 5, 3, T0 - 3_600_000 * 24)
        .await
        .unwrap();
    let stored = crate::testkit::report_round(
        s,
        &ui.state.catalog,
        &mut agents,
        5,
        0,
        T0 - 7_200_000,
        T0 - 7_200_000 + 1000,
    )
    .await
    .unwrap();
    assert_eq!(stored, 3);
}

#[tokio::test]
async fn a_csv_report_job_shows_its_progress_then_its_file_for_its_user_only() {
    let ui = ui().await;
    reported(&ui).await;
    let cookie = ui.sign_in("bob").await; // an auditor may download
    let a = ui
        .start_job(&cookie, "kind=report&format=csv&as_of=&period=0")
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let id = a.location.strip_prefix("/ui/downloads/jobs/").unwrap();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    let page = ui.finished_job(&a.location, &cookie).await;
    assert!(page.body.contains("CSV report, now"), "{}", page.body);
    assert!(page.body.contains("role=\"status\""));
    assert!(
        !page.body.contains("http-equiv=\"refresh\""),
        "a finished job refreshes"
    );
    let file_path = format!("{}/file", a.location);
    assert!(
        page.body.contains(&format!("href=\"{file_path}\"")),
        "{}",
        page.body
    );
    let file = ui.get(&file_path, Some(&cookie)).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.content_type, "text/csv; charset=utf-8");
    assert_eq!(
        file.disposition,
        "attachment; filename=\"attest-report-20260921.csv\""
    );
    assert!(
        file.body.starts_with("agent_id,hostname,check,"),
        "{}",
        file.body
    );
    assert!(file.body.contains("agt_sim_5_0"), "{}", file.body);

    // Another user (an admin even) finds neither its page nor its file.
    let other = ui.sign_in("ada").await;
    for path in [a.location.as_str(), file_path.as_str()] {
        let b = ui.get(path, Some(&other)).await;
        assert_eq!(b.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!b.body.contains("agent_id,"), "{path}");
    }
    // Not signed in: to the sign-in page.
    let b = ui.get(&file_path, None).await;
    assert_eq!(b.status, StatusCode::SEE_OTHER);

    // An hour after it finished, the job and its file are gone.
    let made = ui
        .state
        .jobs
        .get(id, "bob", T0)
        .and_then(|j| j.file())
        .unwrap()
        .0;
    assert!(made.exists());
    // (The session is kept alive: it ends after 30 minutes idle.)
    for (minutes, status) in [(29, StatusCode::OK), (58, StatusCode::OK)] {
        ui.clock.set(T0 + minutes * 60_000);
        let b = ui.get(&a.location, Some(&cookie)).await;
        assert_eq!(b.status, status, "{minutes} minutes");
    }
    assert!(made.exists());
    ui.clock.set(T0 + 3_600_000);
    let b = ui.get(&a.location, Some(&cookie)).await;
    assert_eq!(b.status, StatusCode::NOT_FOUND);
    assert!(!made.exists(), "the file outlived its job");
}

#[tokio::test]
async fn a_bundle_job_makes_a_bundle_that_verifies() {
    let ui = ui().await;
    reported(&ui).await;
    let cookie = ui.sign_in("ada").await;
    let a = ui.start_job(&cookie, "kind=bundle&period=0").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = ui.finished_job(&a.location, &cookie).await;
    assert!(page.body.contains("Evidence bundle, now"), "{}", page.body);
    // The counted steps the page showed were the export's own.
    let id = a.location.strip_prefix("/ui/downloads/jobs/").unwrap();
    let job = ui.state.jobs.get(id, "ada", T0).unwrap();
    assert_eq!(
        job.progress.snapshot(),
        ("adding envelopes and inclusion proofs".to_owned(), 3, 3)
    );
    let file = ui.get(&format!("{}/file", a.location), Some(&cookie)).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.content_type, "application/gzip");
    assert_eq!(
        file.disposition,
        "attachment; filename=\"attest-evidence-20260921.tar.gz\""
    );
    assert_eq!(&file.bytes[..2], &[0x1f, 0x8b], "not gzip");
    let trust = crate::report::verify::Trust::key(&ui.state.log_key.verifying_key());
    let v = crate::report::verify::verify_bytes(&file.bytes, &trust).unwrap();
    assert!(v.ok(), "{}", v.text());
    assert_eq!(v.envelopes, 3);
}

#[tokio::test]
async fn a_job_is_refused_without_csrf_with_a_bad_form_and_over_the_limit() {
    let ui = ui().await;
    let cookie = ui.sign_in("bob").await;
    let csrf = ui.csrf(&cookie).await;
    // No token, or a wrong one: 403, no job.
    for form in [
        "kind=report&format=csv".to_owned(),
        format!("csrf={}&kind=report&format=csv", "0".repeat(64)),
    ] {
        let a = ui.post("/ui/downloads", Some(&cookie), &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form}");
    }
    // A bad format, kind, date or period: 400, no job.
    for form in [
        "kind=report&format=pdf",
        "kind=report",
        "kind=zip",
        "kind=bundle&as_of=yesterday",
        "kind=bundle&period=14",
    ] {
        let a = ui
            .post(
                "/ui/downloads",
                Some(&cookie),
                &format!("csrf={csrf}&{form}"),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{form}: {}", a.body);
    }
    assert_eq!(ui.state.jobs.count(), 0);
    // Two running jobs of this user (held running here): a third is refused.
    let key = super::view::Key {
        at: None,
        period_days: 0,
    };
    let held = [
        ui.state
            .jobs
            .start("bob", jobs::Kind::Bundle, key, T0)
            .unwrap(),
        ui.state
            .jobs
            .start("bob", jobs::Kind::Bundle, key, T0)
            .unwrap(),
    ];
    let page = ui
        .get(&format!("/ui/downloads/jobs/{}", held[0].id), Some(&cookie))
        .await;
    assert!(page.body.contains("data-running"), "{}", page.body);
    assert!(
        page.body
            .contains("<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>"),
        "{}",
        page.body
    );
    let a = ui.start_job(&cookie, "kind=report&format=csv").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(
        a.body.contains("You have 2 downloads being made already"),
        "{}",
        a.body
    );
    assert_eq!(ui.state.jobs.count(), 2);
    // With 4 running in the collector, another user is refused too (that another
    // user may start one under 4 is `jobs::tests`').
    let ada = ui.sign_in("ada").await;
    let _others = [
        ui.state
            .jobs
            .start("cy", jobs::Kind::Bundle, key, T0)
            .unwrap(),
        ui.state
            .jobs
            .start("dee", jobs::Kind::Bundle, key, T0)
            .unwrap(),
    ];
    let a = ui.start_job(&ada, "kind=report&format=csv").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(
        a.body.contains("The collector is making 4 downloads"),
        "{}",
        a.body
    );
    assert_eq!(ui.state.jobs.count(), 4);
}

#[test]
fn a_trend_line_leaves_gaps_where_a_day_has_no_value() {
    let row = |trend: Vec<Option<u32>>| pages::ControlRow {
        id: "8.8".into(),
        title: String::new(),
        verdict: None,
        satisfied: 0,
        waived: 0,
        not_satisfied: 0,
        stale: 0,
        not_assessed: 0,
        trend,
    };
    let r = row(vec![None, Some(0), None, Some(100), Some(50)]);
    assert!(r.has_trend());
    assert_eq!(r.points(), "31,22 89,2 118,12");
    assert_eq!(
        r.trend_text(),
        "hosts satisfied: 0% at the start of the period, 50% at its end"
    );
    assert_eq!(r.last_point(), Some((118, 12)));
    // One value: a dot.
    let r = row(vec![None, None, Some(100)]);
    assert_eq!(r.points(), "118,2");
    assert_eq!(r.last_point(), Some((118, 2)));
    let r = row(vec![None, None]);
    assert!(!r.has_trend());
    assert_eq!(r.points(), "");
    assert_eq!(r.last_point(), None);
    assert_eq!(r.trend_text(), "");
}

#[tokio::test]
async fn an_evaluation_a_job_waits_for_reports_its_progress_and_a_kept_one_none() {
    let ui = ui().await;
    reported(&ui).await;
    let key = view::Key {
        at: None,
        period_days: 0,
    };
    let p = crate::report::Progress::observed();
    let v = ui
        .state
        .views
        .get_observed(&ui.state, key, &p)
        .await
        .unwrap();
    assert_eq!(v.report.summary.hosts_in_scope, 3);
    assert_eq!(p.snapshot(), ("verifying envelopes".to_owned(), 3, 3));
    // Kept: nothing evaluated, nothing reported.
    let again = crate::report::Progress::observed();
    let w = ui
        .state
        .views
        .get_observed(&ui.state, key, &again)
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&v, &w));
    assert_eq!(again.snapshot(), (String::new(), 0, 0));
}

#[tokio::test]
async fn a_page_whose_evaluation_is_under_way_says_how_far_it_is_then_shows() {
    let mut ui = ui().await;
    reported(&ui).await;
    let cookie = ui.sign_in("ada").await;
    Arc::get_mut(&mut ui.state).unwrap().evaluation_wait = std::time::Duration::ZERO;
    // Hold the evaluation lock, as a long evaluation would.
    let held = ui.state.views.exclusive().await;
    for path in [
        "/ui/",
        "/ui/hosts",
        "/ui/controls/8.24",
        "/ui/?as_of=2026-09-01&period=7",
    ] {
        let page = ui.get(path, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains("Evaluating the fleet"),
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains("data-evaluating"), "{path}");
        assert!(
            page.body.contains("waiting for another evaluation to end"),
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains("http-equiv=\"refresh\""), "{path}");
    }
    // One evaluation per date however many pages ask.
    assert_eq!(ui.state.views.pending_count(), 2);
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = ui.get("/ui/", Some(&cookie)).await;
        if page.body.contains("Fleet overview") {
            assert!(page.body.contains("hosts in scope"));
            break;
        }
        assert!(page.body.contains("Evaluating the fleet"), "{}", page.body);
        assert!(std::time::Instant::now() < deadline, "never shown");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Kept now: shown at once, even with no wait at all.
    let page = ui.get("/ui/hosts", Some(&cookie)).await;
    assert!(page.body.contains("Hosts"), "{}", page.body);
    assert!(!page.body.contains("data-evaluating"));
}
