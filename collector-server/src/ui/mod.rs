//! The dashboard: server-rendered pages under `/ui/`, on the collector's own listener.
//!
//! | page | who | what |
//! | --- | --- | --- |
//! | `GET /ui/login`, `POST /ui/login`, `POST /ui/logout` | anyone / signed in | sign in and out |
//! | `GET /ui/` | signed in | fleet overview: per control, hosts per state as of a date, trend over a period |
//! | `GET /ui/controls/{id}` | signed in | a control's hosts and their state, the checks that evidence it |
//! | `GET /ui/hosts` | signed in | hosts, searched and filtered by name, OS, state, control |
//! | `GET /ui/hosts/{agent}` | signed in | latest verdicts, timeline of state changes, chain state |
//! | `GET /ui/hosts/{agent}/reports/{seq}` | signed in | one signed report, its signature and log inclusion verified here |
//! | `GET /ui/waivers`, `POST /ui/waivers`, `POST /ui/waivers/{id}/revoke` | read: signed in; change: admin | waivers |
//! | `GET /ui/agents`, `POST /ui/agents/{id}/revoke`, `POST /ui/enroll-tokens` | admin | agents and enrollment tokens |
//! | `GET /ui/audit` | signed in | the audit log |
//! | `GET /ui/downloads`, `POST /ui/downloads` | signed in | reports and evidence bundles: the form starts an export job ([`jobs`]) |
//! | `GET /ui/downloads/jobs/{id}`, `GET /ui/downloads/jobs/{id}/file` | the user who started the job | its progress, then its file |
//!
//! Handlers are thin: what they show comes from the same code as the reports
//! ([`crate::report`], through [`view::Views`]), what they change goes through the
//! service functions the CLI uses ([`crate::admin`], [`crate::waivers`],
//! [`crate::accounts`]), each writing the audit log.
//!
//! Export jobs run in this collector's memory ([`jobs`]): behind a load balancer
//! with several collectors, `/ui/downloads` needs sticky routing (or the user starts
//! the download again).
//!
//! Sessions: [`crate::session`] and [`crate::accounts`]. Every POST carries the
//! session's CSRF token; every response forbids framing, caching and inline script.

mod jobs;
mod pages;
#[cfg(test)]
mod tests;
pub mod trend;
mod view;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::accounts::{self, Viewer};
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::guard::ConnState;
use crate::ratelimit::KeyedLimiter;
use crate::session::{self, SessionPolicy};
use crate::store::Millis;
use crate::store::reporting::Stores;

pub use view::Views;

/// The dashboard's stylesheet.
const CSS: &str = include_str!("../../templates/ui/ui.css");
/// The dashboard's one script: confirmation of destructive actions and an export
/// job's progress updated in place; the pages work without it.
const JS: &str = include_str!("../../templates/ui/ui.js");

/// Sign-in attempts per client address: a burst of 20, then one every 3 s.
const SIGN_IN_PER_CLIENT: (f64, u32) = (1.0 / 3.0, 20);
/// Sign-in attempts per account name: a burst of 5, then one a minute.
const SIGN_IN_PER_ACCOUNT: (f64, u32) = (1.0 / 60.0, 5);

/// How long a page waits for the first evaluation of its date (seconds on a large
/// fleet) before it answers with how far it is, and loads again.
pub const EVALUATION_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Everything the dashboard's handlers share.
pub struct UiState {
    pub stores: Stores,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    pub log_key: attest_proto::SigningKey,
    pub policy: SessionPolicy,
    /// Freshness window of the evaluation.
    pub window: Millis,
    /// Where exports are written, kept until their job expires.
    pub scratch: std::path::PathBuf,
    /// The export jobs of this collector.
    pub jobs: jobs::Jobs,
    pub views: Views,
    /// How long a page waits for the first evaluation of its date before it shows how
    /// far that evaluation is instead ([`EVALUATION_WAIT`]).
    pub evaluation_wait: std::time::Duration,
    /// The overview trend's day counts, and what counts them in the background.
    pub trend: trend::Filler,
    /// Period downloads are made up to this many host-days (`pages::MAX_PERIOD_HOST_DAYS`).
    pub max_period_host_days: usize,
    per_client: KeyedLimiter<IpAddr>,
    per_account: KeyedLimiter<String>,
}

impl UiState {
    pub fn new(
        stores: Stores,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
        log_key: attest_proto::SigningKey,
        scratch: std::path::PathBuf,
    ) -> Self {
        UiState {
            trend: trend::Filler::new(&catalog, crate::evaluate::DEFAULT_WINDOW_MS),
            stores,
            catalog,
            clock,
            log_key,
            policy: SessionPolicy::default(),
            window: crate::evaluate::DEFAULT_WINDOW_MS,
            scratch,
            jobs: jobs::Jobs::default(),
            views: Views::default(),
            evaluation_wait: EVALUATION_WAIT,
            max_period_host_days: pages::MAX_PERIOD_HOST_DAYS,
            per_client: KeyedLimiter::new(SIGN_IN_PER_CLIENT.0, SIGN_IN_PER_CLIENT.1),
            per_account: KeyedLimiter::new(SIGN_IN_PER_ACCOUNT.0, SIGN_IN_PER_ACCOUNT.1),
        }
    }

    /// Other session limits (tests move them).
    pub fn with_policy(mut self, policy: SessionPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn now(&self) -> Millis {
        self.clock.now_millis()
    }

    /// Takes one sign-in attempt for this client and account; `Err(seconds to wait)`.
    fn throttle(&self, client: IpAddr, account: &str) -> Result<(), u64> {
        self.per_client.check(&client)?;
        self.per_account.check(&account.to_owned())
    }
}

/// The dashboard's routes.
pub fn router(state: Arc<UiState>) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::overview))
        .route("/ui/login", get(pages::login_form).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/controls/{id}", get(pages::control))
        .route("/ui/hosts", get(pages::hosts))
        .route("/ui/hosts/{agent}", get(pages::host))
        .route("/ui/hosts/{agent}/reports/{seq}", get(pages::evidence))
        .route("/ui/waivers", get(pages::waivers).post(pages::add_waiver))
        .route("/ui/waivers/{id}/revoke", post(pages::revoke_waiver))
        .route("/ui/agents", get(pages::agents))
        .route("/ui/agents/{id}/revoke", post(pages::revoke_agent))
        .route("/ui/enroll-tokens", post(pages::create_enroll_token))
        .route("/ui/audit", get(pages::audit))
        .route(
            "/ui/downloads",
            get(pages::downloads).post(pages::start_download),
        )
        .route("/ui/downloads/jobs/{id}", get(pages::download_job))
        .route(
            "/ui/downloads/jobs/{id}/file",
            get(pages::download_job_file),
        )
        .route(
            "/ui/static/ui.css",
            get(|| async { asset("text/css", CSS) }),
        )
        .route(
            "/ui/static/ui.js",
            get(|| async { asset("text/javascript", JS) }),
        )
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state)
}

/// The answer to a path under `/ui/` that is no page (the API's fallback calls it:
/// one router has one fallback).
pub fn not_found() -> Response {
    pages::not_found()
}

/// A static asset: cached for an hour (it changes only with the binary).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Headers on every dashboard response: no framing, no inline or foreign script or
/// style, no sniffing, no referrer, and pages not cached (they carry evidence and the
/// CSRF token).
async fn secure_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
             img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// The client's address (the TCP peer; a reverse proxy's own address behind one).
fn client_ip(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<Arc<ConnState>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.ip())
}

/// Why a request gets no page.
#[derive(Debug)]
pub enum Refusal {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn {
        next: String,
    },
    /// Signed in, but the action needs an admin, or the form's CSRF token is wrong.
    Forbidden(&'static str),
    NotFound(String),
    BadRequest(String),
    /// Too many at once (429), and what to do.
    Busy(String),
    /// The evaluation the page needs is still under way: how far it is (a page that
    /// loads again by itself).
    Evaluating {
        at: Option<Millis>,
        e: view::Evaluating,
    },
    Internal,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn { next } => {
                let to = format!("/ui/login?next={}", pages::url_encode(&next));
                Redirect::to(&to).into_response()
            }
            Refusal::Forbidden(why) => pages::message(StatusCode::FORBIDDEN, "Not allowed", why),
            Refusal::NotFound(what) => pages::message(StatusCode::NOT_FOUND, "Not found", &what),
            Refusal::BadRequest(why) => {
                pages::message(StatusCode::BAD_REQUEST, "Cannot do that", &why)
            }
            Refusal::Busy(why) => {
                pages::message(StatusCode::TOO_MANY_REQUESTS, "Too many downloads", &why)
            }
            Refusal::Evaluating { at, e } => pages::evaluating(at, &e),
            Refusal::Internal => pages::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The collector could not answer; its log says why.",
            ),
        }
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "dashboard: store error");
        Refusal::Internal
    }
}

impl From<crate::report::ReportError> for Refusal {
    fn from(e: crate::report::ReportError) -> Self {
        tracing::error!(error = %e, "dashboard: report error");
        Refusal::Internal
    }
}

/// The signed-in user of a request, or where to sign in.
async fn viewer(state: &UiState, headers: &HeaderMap, path: &str) -> Result<Viewer, Refusal> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::token_of);
    let signed_in = match token {
        Some(t) => {
            accounts::current(state.stores.store.as_ref(), &state.policy, t, state.now()).await?
        }
        None => None,
    };
    signed_in.ok_or_else(|| Refusal::SignIn {
        next: path.to_owned(),
    })
}

/// The signed-in user of a POST whose form carries `csrf`: refused without the
/// session's CSRF token, and when `admin` is needed and the user is not one.
async fn poster(
    state: &UiState,
    headers: &HeaderMap,
    csrf: &str,
    admin: bool,
) -> Result<Viewer, Refusal> {
    let v = viewer(state, headers, "/ui/").await?;
    if !session::csrf_matches(&v.csrf, csrf) {
        return Err(Refusal::Forbidden(
            "The form's security token is missing or stale: reload the page and try again.",
        ));
    }
    if admin && !v.is_admin() {
        return Err(Refusal::Forbidden("Only an admin may do this."));
    }
    Ok(v)
}
