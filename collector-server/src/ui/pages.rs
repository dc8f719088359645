//! The dashboard's handlers and page templates (`templates/ui/`).

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::jobs::{
    Busy, Job, Jobs, KEEP_MS, Kind, MAX_RUNNING, MAX_RUNNING_PER_USER, Made, Outcome,
};
use super::view::{Got, Key, View};
use super::{Refusal, UiState, client_ip, poster, viewer};
use crate::accounts::{self, Viewer};
use crate::evaluate::State as Verdict;
use crate::fleet::{HostRecord, WaiverScope};
use crate::report::Format;
use crate::report::model::HostEntry;
use crate::session;
use crate::store::Millis;
use crate::waivers::WaiverRequest;

const DAY: Millis = 24 * 3600 * 1000;
/// Hosts per page of a host list.
const PAGE: usize = 100;

// ----- shared pieces -----

/// The header of every signed-in page.
pub struct Nav {
    pub user: String,
    pub role: &'static str,
    pub admin: bool,
    pub csrf: String,
    pub active: &'static str,
}

impl Nav {
    fn of(v: &Viewer, active: &'static str) -> Option<Nav> {
        Some(Nav {
            user: v.user.clone(),
            role: v.role.as_str(),
            admin: v.is_admin(),
            csrf: v.csrf.clone(),
            active,
        })
    }
}

/// The evaluation a page shows, as its form and its links carry it.
pub struct WhenForm {
    /// The date field's value (`YYYY-MM-DD`, empty for now).
    pub as_of: String,
    pub period: u32,
    /// "as of …" in words.
    pub text: String,
    /// The query string that keeps the evaluation on links (`as_of=…&period=…`).
    pub qs: String,
    /// What the page says about its evaluation (e.g. trend days still being counted).
    pub notice: Option<String>,
}

/// The query parameters the pages take (all optional).
#[derive(Debug, Default, Deserialize)]
pub struct Q {
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    period: Option<u32>,
    #[serde(default)]
    q: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    control: String,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    next: String,
    #[serde(default)]
    done: String,
}

fn query(q: Result<Query<Q>, QueryRejection>) -> Result<Q, Refusal> {
    q.map(|Query(q)| q)
        .map_err(|e| Refusal::BadRequest(format!("the address's parameters: {e}")))
}

fn form_of<T>(form: Result<Form<T>, FormRejection>) -> Result<T, Refusal> {
    form.map(|Form(f)| f)
        .map_err(|e| Refusal::BadRequest(format!("the form: {e}")))
}

/// What a redirect after a change says was done (an id or a word; nothing else shown).
fn done_of(q: &Q) -> String {
    q.done
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The view key of a query: `as_of` a date (the end of that day, UTC), `period` 0, 7,
/// 30 or 90 days.
fn key_of(q: &Q) -> Result<Key, Refusal> {
    let at = if q.as_of.trim().is_empty() {
        None
    } else {
        let d = chrono::NaiveDate::parse_from_str(q.as_of.trim(), "%Y-%m-%d").map_err(|_| {
            Refusal::BadRequest(format!(
                "{:?} is not a date (YYYY-MM-DD)",
                crate::logsafe::esc(&q.as_of)
            ))
        })?;
        let start = d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .ok_or_else(|| Refusal::BadRequest("the date is out of range".into()))?;
        Some(start + DAY - 1)
    };
    let period = q.period.unwrap_or(0);
    if ![0, 7, 30, 90].contains(&period) {
        return Err(Refusal::BadRequest(
            "the trend period is 0, 7, 30 or 90 days".into(),
        ));
    }
    Ok(Key {
        at,
        period_days: period,
    })
}

/// The most host-days a period report or bundle is made for from the dashboard: a
/// period's evaluation holds every report of the period in memory (about 22 KB each;
/// 10,000 hosts × 30 days took 194 s and 6.8 GB, docs/benchmarks.md), which one click
/// must not cost the collector. (The overview's trend is not bound by it: it reads
/// the day counts of [`super::trend`].)
pub const MAX_PERIOD_HOST_DAYS: usize = 50_000;

/// The view of `key`'s date: the pages show the state at a date (the period is the
/// overview's trend, drawn from the day counts of [`super::trend`]).
async fn date_view(state: &Arc<UiState>, key: Key) -> Result<Arc<View>, Refusal> {
    let plain = Key {
        at: key.at,
        period_days: 0,
    };
    match state
        .views
        .get_within(state, plain, state.evaluation_wait)
        .await?
    {
        Got::Ready(v) => Ok(v),
        Got::Evaluating(e) => Err(Refusal::Evaluating { at: key.at, e }),
    }
}

/// Why a download over `key`'s period is refused (more than [`MAX_PERIOD_HOST_DAYS`]
/// host-days), if it is.
async fn period_too_large(state: &Arc<UiState>, key: Key) -> Result<Option<String>, Refusal> {
    if key.period_days == 0 {
        return Ok(None);
    }
    let plain = Key {
        at: key.at,
        period_days: 0,
    };
    let view = state.views.get(state, plain).await?;
    let hosts = view.report.summary.hosts_in_scope;
    let host_days = hosts.saturating_mul(key.period_days as usize);
    Ok((host_days > state.max_period_host_days).then(|| {
        format!(
            "The period report over {} days of {hosts} hosts is not made here: it would \
             hold {host_days} reports in memory (more than {}). Pick a shorter period, or \
             make it with `attest-collector report --period` on the collector.",
            key.period_days, state.max_period_host_days
        )
    }))
}

fn when_form(q: &Q, key: Key, view: &View, notice: Option<String>) -> WhenForm {
    let as_of = if key.at.is_some() {
        q.as_of.trim().to_owned()
    } else {
        String::new()
    };
    let mut parts = Vec::new();
    if !as_of.is_empty() {
        parts.push(format!("as_of={as_of}"));
    }
    if key.period_days != 0 {
        parts.push(format!("period={}", key.period_days));
    }
    WhenForm {
        text: if key.at.is_none() {
            format!("now ({})", short_time(view.at))
        } else {
            format!("as of {}", short_time(view.at))
        },
        as_of,
        period: key.period_days,
        qs: parts.join("&"),
        notice,
    }
}

/// `2026-12-03 10:15 UTC`.
pub fn short_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn opt_time(ms: Option<Millis>) -> String {
    ms.map_or_else(|| "-".to_owned(), short_time)
}

/// A verdict for templates: its label and CSS class.
#[derive(Debug, Clone, Copy)]
pub struct St {
    pub label: &'static str,
    pub class: &'static str,
}

impl From<Verdict> for St {
    fn from(s: Verdict) -> Self {
        St {
            label: s.label(),
            class: s.as_str(),
        }
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard: template");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "ui/message.html")]
struct MessagePage {
    nav: Option<Nav>,
    title: String,
    text: String,
}

#[derive(Template)]
#[template(path = "ui/evaluating.html")]
struct EvaluatingPage {
    nav: Option<Nav>,
    when: String,
    step: String,
    done: usize,
    total: usize,
    seconds: u64,
}

/// The page shown while the evaluation a page needs is under way: it loads again by
/// itself (a script, or a refresh without one) until the page can be shown.
pub fn evaluating(at: Option<Millis>, e: &super::view::Evaluating) -> Response {
    render(&EvaluatingPage {
        nav: None,
        when: at.map_or_else(|| "now".to_owned(), |t| format!("as of {}", short_time(t))),
        step: e.step.clone(),
        done: e.done,
        total: e.total,
        seconds: e.elapsed.as_secs(),
    })
}

/// A page that only says something (errors, refusals).
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let mut r = render(&MessagePage {
        nav: None,
        title: title.to_owned(),
        text: text.to_owned(),
    });
    *r.status_mut() = status;
    r
}

pub fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page in the dashboard.",
    )
}

// ----- sign-in -----

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    nav: Option<Nav>,
    next: String,
    name: String,
    error: Option<String>,
}

/// Only dashboard paths are followed after sign-in (never another site).
fn safe_next(next: &str) -> String {
    if next.starts_with("/ui/") && !next.starts_with("/ui//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/ui/".to_owned()
    }
}

pub async fn login_form(q: Result<Query<Q>, QueryRejection>) -> Result<Response, Refusal> {
    let q = query(q)?;
    Ok(render(&LoginPage {
        nav: None,
        next: safe_next(&q.next),
        name: String::new(),
        error: if q.done == "out" {
            Some("You are signed out.".into())
        } else {
            None
        },
    }))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(state): State<Arc<UiState>>,
    request: axum::extract::Request,
) -> Result<Response, Refusal> {
    let client = client_ip(request.extensions());
    let form: Result<Form<LoginForm>, FormRejection> =
        <Form<LoginForm> as axum::extract::FromRequest<()>>::from_request(request, &()).await;
    let form = form_of(form)?;
    let next = safe_next(&form.next);
    let name = form.name.trim().to_owned();
    let again = |status: StatusCode, error: String| {
        let mut r = render(&LoginPage {
            nav: None,
            next: next.clone(),
            name: name.chars().take(64).collect(),
            error: Some(error),
        });
        *r.status_mut() = status;
        r
    };
    if let Err(wait) = state.throttle(client, &name) {
        tracing::warn!(%client, "dashboard: sign-in throttled");
        let mut r = again(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many sign-in attempts. Try again in {wait} s."),
        );
        if let Ok(v) = wait.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let signed = accounts::sign_in(
        state.stores.store.as_ref(),
        state.now(),
        &name,
        &form.password,
        &client.to_string(),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "dashboard: sign-in");
        Refusal::Internal
    })?;
    let Some(signed) = signed else {
        return Ok(again(
            StatusCode::UNAUTHORIZED,
            "The name or the password is wrong, or the account is disabled.".into(),
        ));
    };
    let mut r = Redirect::to(&next).into_response();
    if let Ok(v) = session::set_cookie(&signed.token, &state.policy).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let form = form_of(form)?;
    let v = poster(&state, &headers, &form.csrf, false).await?;
    accounts::sign_out(state.stores.store.as_ref(), state.now(), &v).await?;
    let mut r = Redirect::to("/ui/login?done=out").into_response();
    if let Ok(c) = session::clear_cookie().parse() {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

// ----- overview -----

pub struct ControlRow {
    pub id: String,
    pub title: String,
    pub verdict: Option<St>,
    pub satisfied: usize,
    pub waived: usize,
    pub not_satisfied: usize,
    pub stale: usize,
    pub not_assessed: usize,
    /// Share of hosts satisfied per day of the period, in percent (oldest first;
    /// `None`: not counted yet, or no host in scope that day).
    pub trend: Vec<Option<u32>>,
}

impl ControlRow {
    /// Whether any day of the trend has a value.
    pub fn has_trend(&self) -> bool {
        self.trend.iter().any(Option::is_some)
    }

    /// The days with a value, as points in a 120 × 24 box.
    fn xy(&self) -> impl DoubleEndedIterator<Item = (usize, usize)> + '_ {
        let n = self.trend.len();
        self.trend.iter().enumerate().filter_map(move |(i, p)| {
            let p = (*p)? as usize;
            let x = if n <= 1 { 60 } else { i * 116 / (n - 1) + 2 };
            Some((x, 22 - p.min(100) * 20 / 100))
        })
    }

    /// The trend as SVG polyline points (days without a value left out, the others
    /// where their day is).
    pub fn points(&self) -> String {
        self.xy()
            .map(|(x, y)| format!("{x},{y}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The last day with a value, marked with a dot (the only mark when it is the
    /// only value).
    pub fn last_point(&self) -> Option<(usize, usize)> {
        self.xy().next_back()
    }

    /// The trend in words, for screen readers.
    pub fn trend_text(&self) -> String {
        let mut known = self.trend.iter().flatten();
        match (known.next(), self.trend.iter().flatten().next_back()) {
            (Some(a), Some(b)) => {
                format!("hosts satisfied: {a}% at the start of the period, {b}% at its end")
            }
            _ => String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/overview.html")]
struct OverviewPage {
    nav: Option<Nav>,
    when: WhenForm,
    hosts: usize,
    hosts_fresh: usize,
    hosts_stale: usize,
    hosts_without: usize,
    signatures_failed: usize,
    conflicts: usize,
    assessed: Vec<ControlRow>,
    not_assessed: Vec<ControlRow>,
    days: Vec<String>,
}

pub async fn overview(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    q: Result<Query<Q>, QueryRejection>,
) -> Result<Response, Refusal> {
    let v = viewer(&state, &headers, "/ui/").await?;
    let q = query(q)?;
    let key = key_of(&q)?;
    let view = date_view(&state, key).await?;
    let mut trend = super::trend::of(&state, &view, key.period_days).await?;
    let notice = (trend.missing > 0).then(|| {
        format!(
            "{} of the {} days of the trend are still being counted (each day once, in \
             the background, newest first); they show as gaps until then.",
            trend.missing,
            trend.days.len()
        )
    });
    let r = &view.report;
    let (mut assessed, mut not_assessed) = (Vec::new(), Vec::new());
    for c in &r.controls {
        let counts = c.counts.unwrap_or_default();
        let row = ControlRow {
            id: c.id.clone(),
            title: c.title.clone(),
            verdict: c.verdict.map(St::from),
            satisfied: counts.satisfied,
            waived: counts.waived,
            not_satisfied: counts.not_satisfied,
            stale: counts.stale,
            not_assessed: counts.not_assessed,
            trend: trend.shares.remove(&c.id).unwrap_or_default(),
        };
        if c.assessed {
            assessed.push(row);
        } else {
            not_assessed.push(row);
        }
    }
    let days = trend.days;
    Ok(render(&OverviewPage {
        nav: Nav::of(&v, "overview"),
        when: when_form(&q, key, &view, notice),
        hosts: r.summary.hosts_in_scope,
        hosts_fresh: r.summary.hosts_fresh,
        hosts_stale: r.summary.hosts_stale,
        hosts_without: r.summary.hosts_without_evidence,
        signatures_failed: r.summary.signatures_failed,
        conflicts: r.summary.hosts_with_chain_conflicts,
        assessed,
        not_assessed,
        days,
    }))
}

// ----- host lists -----

pub struct HostRow {
    pub agent_id: String,
    pub hostname: String,
    pub os: String,
    pub freshness: &'static str,
    pub last: String,
    pub state: St,
}

pub struct Pager {
    pub shown: usize,
    pub total: usize,
    pub page: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// The filters of a host list, as the form shows them.
pub struct Filter {
    pub q: String,
    pub os: String,
    pub state: String,
    pub control: String,
    pub os_options: Vec<(String, String)>,
    pub control_options: Vec<(String, String)>,
}

/// A host's state: for `control` when given, else the worst over its controls.
fn host_state(h: &HostEntry, control: &str) -> Verdict {
    if control.is_empty() {
        h.controls
            .iter()
            .map(|c| c.state)
            .fold(Verdict::Satisfied, Verdict::worst)
    } else {
        h.controls
            .iter()
            .find(|c| c.control == control)
            .map_or(Verdict::NotAssessed, |c| c.state)
    }
}

/// The hosts of a view that pass the filters, with a page of them as rows.
fn filtered(view: &View, q: &Q, control: &str, base: &str, when_qs: &str) -> (Vec<HostRow>, Pager) {
    let needle = q.q.trim().to_lowercase();
    let matching: Vec<&HostEntry> = view
        .report
        .hosts
        .iter()
        .filter(|h| {
            needle.is_empty()
                || h.hostname.to_lowercase().contains(&needle)
                || h.agent_id.contains(&needle)
        })
        .filter(|h| q.os.is_empty() || h.os.id == q.os)
        .filter(|h| q.state.is_empty() || host_state(h, control).as_str() == q.state)
        .collect();
    let total = matching.len();
    let pages = total.div_ceil(PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let rows: Vec<HostRow> = matching
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .map(|h| HostRow {
            agent_id: h.agent_id.clone(),
            hostname: h.hostname.clone(),
            os: h.os.pretty_name.clone(),
            freshness: h.freshness,
            last: h
                .evidence
                .as_ref()
                .map_or_else(|| "-".to_owned(), |e| e.collected_at.replace('T', " ")),
            state: host_state(h, control).into(),
        })
        .collect();
    let link = |p: usize| {
        let mut parts: Vec<String> = Vec::new();
        if !when_qs.is_empty() {
            parts.push(when_qs.to_owned());
        }
        for (k, v) in [
            ("q", q.q.as_str()),
            ("os", q.os.as_str()),
            ("state", q.state.as_str()),
            ("control", q.control.as_str()),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", url_encode(v)));
            }
        }
        parts.push(format!("page={p}"));
        format!("{base}?{}", parts.join("&"))
    };
    let pager = Pager {
        shown: rows.len(),
        total,
        page,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    (rows, pager)
}

fn filter_of(view: &View, state: &UiState, q: &Q) -> Filter {
    let mut os: Vec<(String, String)> = Vec::new();
    for h in &view.report.hosts {
        if !os.iter().any(|(id, _)| *id == h.os.id) {
            os.push((h.os.id.clone(), h.os.id.clone()));
        }
    }
    os.sort();
    Filter {
        q: q.q.clone(),
        os: q.os.clone(),
        state: q.state.clone(),
        control: q.control.clone(),
        os_options: os,
        control_options: state
            .catalog
            .assessed_controls()
            .map(|c| (c.id.clone(), format!("{} {}", c.id, c.title)))
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "ui/hosts.html")]
struct HostsPage {
    nav: Option<Nav>,
    when: WhenForm,
    filter: Filter,
    states: Vec<St>,
    rows: Vec<HostRow>,
    pager: Pager,
}

fn all_states() -> Vec<St> {
    Verdict::ALL.into_iter().map(St::from).collect()
}

pub async fn hosts(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    q: Result<Query<Q>, QueryRejection>,
) -> Result<Response, Refusal> {
    let v = viewer(&state, &headers, "/ui/hosts").await?;
    let q = query(q)?;
    let key = key_of(&q)?;
    if !q.control.is_empty() && state.catalog.control(&q.control).is_none() {
        return Err(Refusal::NotFound(format!(
            "No control {:?}.",
            crate::logsafe::esc(&q.control)
        )));
    }
    let view = date_view(&state, key).await?;
    let when = when_form(&q, key, &view, None);
    let (rows, pager) = filtered(&view, &q, &q.control, "/ui/hosts", &when.qs);
    Ok(render(&HostsPage {
        nav: Nav::of(&v, "hosts"),
        filter: filter_of(&view, &state, &q),
        when,
        states: all_states(),
        rows,
        pager,
    }))
}

#[derive(Template)]
#[template(path = "ui/control.html")]
struct ControlPage {
    nav: Option<Nav>,
    when: WhenForm,
    id: String,
    title: String,
    verdict: Option<St>,
    counts: Vec<(St, usize)>,
    checks: Vec<(String, String, String)>,
    filter: Filter,
    states: Vec<St>,
    rows: Vec<HostRow>,
    pager: Pager,
}

pub async fn control(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<Q>, QueryRejection>,
) -> Result<Response, Refusal> {
    let v = viewer(
        &state,
        &headers,
        &format!("/ui/controls/{}", url_encode(&id)),
    )
    .await?;
    let q = query(q)?;
    let key = key_of(&q)?;
    let view = date_view(&state, key).await?;
    let Some(c) = view.report.controls.iter().find(|c| c.id == id) else {
        return Err(Refusal::NotFound(format!(
            "No control {:?}.",
            crate::logsafe::esc(&id)
        )));
    };
    let counts = c.counts.unwrap_or_default();
    let when = when_form(&q, key, &view, None);
    let (rows, pager) = filtered(
        &view,
        &q,
        &id,
        &format!("/ui/controls/{}", url_encode(&id)),
        &when.qs,
    );
    Ok(render(&ControlPage {
        nav: Nav::of(&v, "overview"),
        id: c.id.clone(),
        title: c.title.clone(),
        verdict: c.verdict.map(St::from),
        counts: vec![
            (Verdict::Satisfied.into(), counts.satisfied),
            (Verdict::Waived.into(), counts.waived),
            (Verdict::NotSatisfied.into(), counts.not_satisfied),
            (Verdict::Stale.into(), counts.stale),
            (Verdict::NotAssessed.into(), counts.not_assessed),
        ],
        checks: c
            .checks
            .iter()
            .map(|l| (l.check.clone(), l.title.clone(), l.rationale.clone()))
            .collect(),
        filter: filter_of(&view, &state, &q),
        when,
        states: all_states(),
        rows,
        pager,
    }))
}

// ----- one host -----

pub struct ResultRow {
    pub check: String,
    pub status: String,
    pub state: St,
    pub summary: String,
    pub note: String,
    pub controls: String,
}

pub struct ChangeRow {
    pub at: String,
    pub seq: i64,
    pub check: String,
    pub from: String,
    pub to: String,
}

pub struct ReportRow {
    pub seq: i64,
    pub collected: String,
    pub received: String,
    pub note: String,
    pub link: bool,
}

#[derive(Template)]
#[template(path = "ui/host.html")]
struct HostPage {
    nav: Option<Nav>,
    when: WhenForm,
    agent_id: String,
    hostname: String,
    os: String,
    kernel: String,
    agent_version: String,
    enrolled: String,
    last_seen: String,
    revoked: String,
    freshness: String,
    evidence_seq: Option<i64>,
    chain_status: String,
    chain_missing: i64,
    chain_events: Vec<(String, i64, String, String)>,
    controls: Vec<(String, St, String)>,
    results: Vec<ResultRow>,
    changes: Vec<ChangeRow>,
    reports: Vec<ReportRow>,
}

/// How many of a host's latest reports the timeline reads.
const TIMELINE_REPORTS: i64 = 200;

pub async fn host(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Path(agent_id): Path<String>,
    q: Result<Query<Q>, QueryRejection>,
) -> Result<Response, Refusal> {
    let v = viewer(
        &state,
        &headers,
        &format!("/ui/hosts/{}", url_encode(&agent_id)),
    )
    .await?;
    let q = query(q)?;
    let key = key_of(&q)?;
    let store = state.stores.store.as_ref();
    let Some(agent) = store.agent(&agent_id).await? else {
        return Err(Refusal::NotFound(format!(
            "No agent {:?}.",
            crate::logsafe::esc(&agent_id)
        )));
    };
    let view = date_view(&state, key).await?;
    let entry = view.host(&agent_id);
    // The timeline: the latest reports' results, each change of a check's status.
    let after = agent
        .head_seq
        .map(|h| h.saturating_sub(TIMELINE_REPORTS))
        .filter(|a| *a > 0);
    let reports = store
        .list_reports(&agent_id, after, TIMELINE_REPORTS)
        .await?;
    let counted: Vec<i64> = reports
        .iter()
        .filter(|r| !r.replay)
        .map(|r| r.log_index)
        .collect();
    let mut by_index: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for (index, r) in state.stores.reports.results(&counted).await? {
        by_index.entry(index).or_default().push((r.check, r.status));
    }
    let mut changes = Vec::new();
    let mut before: HashMap<String, String> = HashMap::new();
    let mut first = true;
    for r in reports.iter().filter(|r| !r.replay) {
        let now: HashMap<String, String> = by_index
            .remove(&r.log_index)
            .unwrap_or_default()
            .into_iter()
            .collect();
        if !first {
            let mut checks: Vec<&String> = now.keys().chain(before.keys()).collect();
            checks.sort();
            checks.dedup();
            for c in checks {
                let (a, b) = (before.get(c), now.get(c));
                if a != b {
                    changes.push(ChangeRow {
                        at: short_time(r.collected_at),
                        seq: r.seq,
                        check: c.clone(),
                        from: a.cloned().unwrap_or_else(|| "absent".into()),
                        to: b.cloned().unwrap_or_else(|| "absent".into()),
                    });
                }
            }
        }
        first = false;
        before = now;
    }
    changes.reverse();
    let agent_version = match entry.and_then(|e| e.evidence.as_ref()) {
        Some(e) => match store.report_envelope(&agent_id, e.seq).await? {
            Some(env) => attest_proto::Envelope::from_json(&env.envelope)
                .ok()
                .and_then(|e| attest_proto::Statement::from_slice(&e.payload).ok())
                .map_or_else(|| "-".to_owned(), |s| s.predicate.agent.version),
            None => "-".to_owned(),
        },
        None => "-".to_owned(),
    };
    let page = HostPage {
        nav: Nav::of(&v, "hosts"),
        when: when_form(&q, key, &view, None),
        agent_id: agent.agent_id.clone(),
        hostname: agent.hostname.clone(),
        os: agent.os_pretty_name.clone(),
        kernel: agent.kernel.clone(),
        agent_version,
        enrolled: short_time(agent.enrolled_at),
        last_seen: opt_time(agent.last_report_at),
        revoked: opt_time(agent.revoked_at),
        freshness: entry.map_or("not in scope", |e| e.freshness).to_owned(),
        evidence_seq: entry.and_then(|e| e.evidence.as_ref()).map(|e| e.seq),
        chain_status: entry.map_or("-", |e| e.chain.status.as_str()).to_owned(),
        chain_missing: entry.map_or(0, |e| e.chain.missing),
        chain_events: entry.map_or_else(Vec::new, |e| {
            e.chain
                .events
                .iter()
                .map(|ev| (ev.kind.clone(), ev.seq, ev.detail.clone(), ev.at.clone()))
                .collect()
        }),
        controls: entry.map_or_else(Vec::new, |e| {
            e.controls
                .iter()
                .map(|c| {
                    let title = state
                        .catalog
                        .control(&c.control)
                        .map_or_else(String::new, |k| k.title.clone());
                    (c.control.clone(), St::from(c.state), title)
                })
                .collect()
        }),
        results: entry.map_or_else(Vec::new, |e| {
            e.results
                .iter()
                .map(|r| ResultRow {
                    check: r.check.clone(),
                    status: r.status.unwrap_or("absent").to_owned(),
                    state: r.state.into(),
                    summary: r.summary.clone().unwrap_or_default(),
                    note: r
                        .note
                        .clone()
                        .or_else(|| r.reason.clone())
                        .unwrap_or_default(),
                    controls: r.controls.join(", "),
                })
                .collect()
        }),
        changes,
        reports: reports
            .iter()
            .rev()
            .take(20)
            .map(|r| ReportRow {
                seq: r.seq,
                collected: short_time(r.collected_at),
                received: short_time(r.received_at),
                note: if r.replay {
                    "replay (never evidence)".into()
                } else if r.pruned_at.is_some() {
                    "pruned".into()
                } else {
                    String::new()
                },
                link: r.pruned_at.is_none(),
            })
            .collect(),
    };
    Ok(render(&page))
}

// ----- one signed report -----

pub struct SourceRow {
    pub kind: &'static str,
    pub source: String,
    pub sha256: String,
    pub excerpt: String,
}

pub struct CheckOut {
    pub check: String,
    pub status: String,
    pub summary: String,
    pub reason: String,
    pub facts: String,
    pub sources: Vec<SourceRow>,
}

#[derive(Template)]
#[template(path = "ui/evidence.html")]
struct EvidencePage {
    nav: Option<Nav>,
    agent_id: String,
    hostname: String,
    seq: i64,
    log_index: i64,
    payload_sha256: String,
    collected: String,
    agent_version: String,
    keyid: String,
    replay: bool,
    signature_ok: bool,
    signature: String,
    inclusion_ok: bool,
    inclusion: String,
    tree_size: u64,
    root: String,
    leaf: String,
    path_len: usize,
    checks: Vec<CheckOut>,
}

/// The longest facts text shown per result.
const MAX_FACTS: usize = 4000;

pub async fn evidence(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Path((agent_id, seq)): Path<(String, i64)>,
) -> Result<Response, Refusal> {
    let v = viewer(
        &state,
        &headers,
        &format!("/ui/hosts/{}/reports/{seq}", url_encode(&agent_id)),
    )
    .await?;
    let store = state.stores.store.as_ref();
    let missing = || {
        Refusal::NotFound(format!(
            "No stored report {seq} of agent {:?} (it may have been pruned).",
            crate::logsafe::esc(&agent_id)
        ))
    };
    let agent = store.agent(&agent_id).await?.ok_or_else(missing)?;
    let key = store.agent_key(&agent.keyid).await?.ok_or_else(missing)?;
    let env = store
        .report_envelope(&agent_id, seq)
        .await?
        .ok_or_else(missing)?;
    let host = HostRecord {
        agent_id: agent.agent_id.clone(),
        keyid: agent.keyid.clone(),
        public_key: key.public_key,
        hostname: agent.hostname.clone(),
        machine_id: agent.machine_id.clone(),
        os_id: agent.os_id.clone(),
        os_version_id: agent.os_version_id.clone(),
        os_pretty_name: agent.os_pretty_name.clone(),
        kernel: agent.kernel.clone(),
        enrolled_at: agent.enrolled_at,
        revoked_at: agent.revoked_at,
    };
    let facts = crate::report::evidence::envelope_facts(
        &host,
        &env.payload_sha256,
        &env.envelope,
        &state.catalog.rule_facts(),
    );
    // The Merkle log: the stored leaf is this envelope's, and its inclusion proof
    // leads to the current root.
    let head = store.log_head().await?;
    let index = u64::try_from(env.log_index).unwrap_or(u64::MAX);
    let leaf = crate::log::leaf_hash(&env.envelope);
    let stored_leaf = store.log_nodes(0, index, 1).await?.pop();
    let (inclusion_ok, inclusion, path_len) = if stored_leaf != Some(leaf) {
        (
            false,
            "FAILED: the log's leaf at this index is not this envelope's hash".to_owned(),
            0,
        )
    } else {
        match crate::store::inclusion_proof(store, index, head.tree_size).await {
            Ok(path) => {
                let ok =
                    crate::log::verify_inclusion(index, head.tree_size, &leaf, &path, &head.root);
                (
                    ok,
                    if ok {
                        "verified".to_owned()
                    } else {
                        "FAILED: the inclusion proof does not lead to the log's root".to_owned()
                    },
                    path.len(),
                )
            }
            Err(e) => (false, format!("FAILED: {e}"), 0),
        }
    };
    let statement = attest_proto::Envelope::from_json(&env.envelope)
        .ok()
        .and_then(|e| attest_proto::Statement::from_slice(&e.payload).ok());
    let (collected, agent_version, checks) = match &statement {
        Some(s) => (
            s.predicate
                .collected_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            s.predicate.agent.version.clone(),
            s.predicate
                .results
                .iter()
                .map(|r| {
                    let mut facts = serde_json::to_string_pretty(&r.facts).unwrap_or_default();
                    if facts.len() > MAX_FACTS {
                        let cut = (0..=MAX_FACTS)
                            .rev()
                            .find(|i| facts.is_char_boundary(*i))
                            .unwrap_or(0);
                        facts.truncate(cut);
                        facts.push_str("\n… (cut; the evidence bundle has it whole)");
                    }
                    CheckOut {
                        check: r.check.clone(),
                        status: r.status.as_str().to_owned(),
                        summary: r.summary.clone(),
                        reason: r.reason.clone().unwrap_or_default(),
                        facts,
                        sources: r
                            .evidence
                            .iter()
                            .map(|e| {
                                let x = crate::report::evidence::excerpt_of(e);
                                SourceRow {
                                    kind: x.kind,
                                    source: x.source,
                                    sha256: x.sha256,
                                    excerpt: x.excerpt,
                                }
                            })
                            .collect(),
                    }
                })
                .collect(),
        ),
        None => ("-".to_owned(), "-".to_owned(), Vec::new()),
    };
    Ok(render(&EvidencePage {
        nav: Nav::of(&v, "hosts"),
        agent_id: agent.agent_id,
        hostname: agent.hostname,
        seq,
        log_index: env.log_index,
        payload_sha256: env.payload_sha256,
        collected,
        agent_version,
        keyid: agent.keyid,
        replay: env.replay,
        signature_ok: facts.signature.is_verified(),
        signature: facts.signature.text(),
        inclusion_ok,
        inclusion,
        tree_size: head.tree_size,
        root: hex::encode(head.root),
        leaf: hex::encode(leaf),
        path_len,
        checks,
    }))
}

// ----- waivers -----

pub struct WaiverRow {
    pub id: String,
    pub scope: String,
    pub hosts: String,
    pub justification: String,
    pub approver: String,
    pub created: String,
    pub expires: String,
    pub status: &'static str,
    pub live: bool,
}

#[derive(Template)]
#[template(path = "ui/waivers.html")]
struct WaiversPage {
    nav: Option<Nav>,
    rows: Vec<WaiverRow>,
    checks: Vec<String>,
    controls: Vec<String>,
    error: Option<String>,
    done: String,
    default_expiry: String,
}

async fn waivers_page(
    state: &UiState,
    v: &Viewer,
    error: Option<String>,
    done: String,
) -> Result<Response, Refusal> {
    let now = state.now();
    let mut rows: Vec<WaiverRow> = state
        .stores
        .reports
        .waivers()
        .await?
        .into_iter()
        .map(|w| {
            let status = if w.revoked_at.is_some_and(|r| r <= now) {
                "revoked"
            } else if w.expires_at <= now {
                "expired"
            } else {
                "active"
            };
            WaiverRow {
                scope: format!("{} {}", w.scope.kind(), w.scope.id()),
                hosts: if w.hosts.is_empty() {
                    "every host".into()
                } else {
                    w.hosts.join(", ")
                },
                justification: w.justification,
                approver: w.approver,
                created: format!("{} by {}", short_time(w.created_at), w.created_by),
                expires: short_time(w.expires_at),
                live: status == "active",
                status,
                id: w.id,
            }
        })
        .collect();
    rows.reverse();
    Ok(render(&WaiversPage {
        nav: Nav::of(v, "waivers"),
        rows,
        checks: state
            .catalog
            .checks()
            .iter()
            .map(|c| c.id.clone())
            .collect(),
        controls: state
            .catalog
            .assessed_controls()
            .map(|c| c.id.clone())
            .collect(),
        error,
        done,
        default_expiry: chrono::DateTime::from_timestamp_millis(now + 90 * DAY)
            .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string()),
    }))
}

pub async fn waivers(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    q: Result<Query<Q>, QueryRejection>,
) -> Result<Response, Refusal> {
    let v = viewer(&state, &headers, "/ui/waivers").await?;
    let q = query(q)?;
    let done = done_of(&q);
    waivers_page(&state, &v, None, done).await
}

#[derive(Debug, Deserialize)]
pub struct WaiverForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    hosts: String,
    #[serde(default)]
    justification: String,
    #[serde(default)]
    approver: String,
    #[serde(default)]
    expires: String,
}

pub async fn add_waiver(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    form: Result<Form<WaiverForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let f = form_of(form)?;
    let v = poster(&state, &headers, &f.csrf, true).await?;
    let scope = match f.kind.as_str() {
        "check" => WaiverScope::Check(f.target.trim().to_owned()),
        "control" => WaiverScope::Control(f.target.trim().to_owned()),
        _ => {
            return Err(Refusal::BadRequest(
                "a waiver is for a check or a control".into(),
            ));
        }
    };
    let expires_at = chrono::NaiveDate::parse_from_str(f.expires.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis() + DAY - 1);
    let Some(expires_at) = expires_at else {
        let page = waivers_page(
            &state,
            &v,
            Some("The expiry must be a date (YYYY-MM-DD).".into()),
            String::new(),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    };
    let req = WaiverRequest {
        scope,
        hosts: f
            .hosts
            .split([',', ' ', '\n', '\r', '\t'])
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect(),
        justification: f.justification,
        approver: f.approver,
        expires_at,
    };
    let added = crate::waivers::add(
        state.stores.store.as_ref(),
        state.stores.reports.as_ref(),
        &state.catalog,
        state.now(),
        &v.actor(),
        req,
    )
    .await;
    match added {
        Ok(w) => {
            state.views.invalidate();
            Ok(Redirect::to(&format!("/ui/waivers?done={}", w.id)).into_response())
        }
        Err(crate::waivers::WaiverError::Store(e)) => Err(e.into()),
        Err(e) => {
            let page = waivers_page(&state, &v, Some(e.to_string()), String::new()).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
    }
}

pub async fn revoke_waiver(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let f = form_of(form)?;
    let v = poster(&state, &headers, &f.csrf, true).await?;
    let done = crate::waivers::revoke(
        state.stores.store.as_ref(),
        state.stores.reports.as_ref(),
        state.now(),
        &v.actor(),
        &id,
    )
    .await?;
    if !done {
        return Err(Refusal::NotFound(format!(
            "No live waiver {:?}.",
            crate::logsafe::esc(&id)
        )));
    }
    state.views.invalidate();
    Ok(Redirect::to("/ui/waivers?done=revoked").into_response())
}

// ----- agents and enrollment tokens -----

pub struct AgentRow {
    pub agent_id: String,
    pub hostname: String,
    pub os: String,
    pub enrolled: String,
    pub last: String,
    pub revoked: String,
    pub live: bool,
}

pub struct TokenRow {
    pub id: String,
    pub uses: String,
    pub created: String,
    pub expires: String,
    pub revoked: String,
}

#[derive(Template)]
#[template(path = "ui/agents.html")]
struct AgentsPage {
    nav: Option<Nav>,
    agents: Vec<AgentRow>,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    more: Option<String>,
    done: String,
}

/// Agents per page.
const AGENTS_PAGE: i64 = 200;

async fn agents_page(
    state: &UiState,
    v: &Viewer,
    after: Option<&str>,
    new_token: Option<String>,
    done: String,
) -> Result<Response, Refusal> {
    let store = state.stores.store.as_ref();
    let list = store.list_agents(after, AGENTS_PAGE).await?;
    let more = (list.len() as i64 == AGENTS_PAGE)
        .then(|| {
            list.last()
                .map(|a| format!("/ui/agents?q={}", url_encode(&a.agent_id)))
        })
        .flatten();
    let agents = list
        .into_iter()
        .map(|a| AgentRow {
            live: a.revoked_at.is_none(),
            agent_id: a.agent_id,
            hostname: a.hostname,
            os: a.os_pretty_name,
            enrolled: short_time(a.enrolled_at),
            last: opt_time(a.last_report_at),
            revoked: opt_time(a.revoked_at),
        })
        .collect();
    let tokens = if v.is_admin() {
        store
            .list_enroll_tokens()
            .await?
            .into_iter()
            .rev()
            .take(50)
            .map(|t| TokenRow {
                id: t.id,
                uses: format!("{} of {}", t.uses_total - t.uses_left, t.uses_total),
                created: short_time(t.created_at),
                expires: opt_time(t.expires_at),
                revoked: opt_time(t.revoked_at),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(render(&AgentsPage {
        nav: Nav::of(v, "agents"),
        agents,
        tokens,
        new_token,
        more,
        done,
    }))
}

pub async fn agents(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    q: Result<Query<Q>, QueryRejection>,
) -> Result<Response, Refusal> {
    let v = viewer(&state, &headers, "/ui/agents").await?;
    let q = query(q)?;
    let after = (!q.q.is_empty()).then_some(q.q.as_str());
    let done = done_of(&q);
    agents_page(&state, &v, after, None, done).await
}

pub async fn revoke_agent(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let f = form_of(form)?;
    let v = poster(&state, &headers, &f.csrf, true).await?;
    if !crate::admin::revoke_agent(state.stores.store.as_ref(), state.now(), &v.actor(), &id)
        .await?
    {
        return Err(Refusal::NotFound(format!(
            "No enrolled, unrevoked agent {:?}.",
            crate::logsafe::esc(&id)
        )));
    }
    Ok(Redirect::to("/ui/agents?done=revoked").into_response())
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    uses: String,
    #[serde(default)]
    days: String,
}

pub async fn create_enroll_token(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let f = form_of(form)?;
    let v = poster(&state, &headers, &f.csrf, true).await?;
    let uses: u32 = f
        .uses
        .trim()
        .parse()
        .ok()
        .filter(|u| (1..=100_000).contains(u))
        .ok_or_else(|| Refusal::BadRequest("uses: a number from 1 to 100000".into()))?;
    let days: u64 = f
        .days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=365).contains(d))
        .ok_or_else(|| Refusal::BadRequest("valid for: 1 to 365 days".into()))?;
    let t = crate::admin::create_enroll_token(
        state.stores.store.as_ref(),
        state.now(),
        &v.actor(),
        uses,
        Some(std::time::Duration::from_secs(days * 86_400)),
    )
    .await?;
    // Shown once, on this answer only (never in a URL).
    agents_page(&state, &v, None, Some(t.token), String::new()).await
}

// ----- audit log -----

#[derive(Template)]
#[template(path = "ui/audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    rows: Vec<(String, String, String, String, String)>,
}

pub async fn audit(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let v = viewer(&state, &headers, "/ui/audit").await?;
    let rows = state
        .stores
        .store
        .audit_log(500)
        .await?
        .into_iter()
        .map(|e| (short_time(e.at), e.actor, e.action, e.target, e.detail))
        .collect();
    Ok(render(&AuditPage {
        nav: Nav::of(&v, "audit"),
        rows,
    }))
}

// ----- downloads -----

#[derive(Template)]
#[template(path = "ui/downloads.html")]
struct DownloadsPage {
    nav: Option<Nav>,
    today: String,
}

pub async fn downloads(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let v = viewer(&state, &headers, "/ui/downloads").await?;
    Ok(render(&DownloadsPage {
        nav: Nav::of(&v, "downloads"),
        today: chrono::DateTime::from_timestamp_millis(state.now())
            .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string()),
    }))
}

fn attachment(content_type: &str, name: &str) -> [(header::HeaderName, String); 2] {
    [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ),
    ]
}

fn stamp(key: Key, state: &UiState) -> String {
    let at = key.at.unwrap_or_else(|| state.now());
    chrono::DateTime::from_timestamp_millis(at)
        .map_or_else(String::new, |t| t.format("%Y%m%d").to_string())
}

/// The downloads form: a report (`kind=report`, its `format`) or the evidence bundle
/// (`kind=bundle`), as of a date, over a period.
#[derive(Debug, Deserialize)]
pub struct DownloadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    period: Option<u32>,
}

/// Starts an export job; to its page.
pub async fn start_download(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    form: Result<Form<DownloadForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let f = form_of(form)?;
    let v = poster(&state, &headers, &f.csrf, false).await?;
    let key = key_of(&Q {
        as_of: f.as_of,
        period: f.period,
        ..Q::default()
    })?;
    let kind = match f.kind.as_str() {
        "report" => Kind::Report(
            Format::parse(&f.format)
                .ok_or_else(|| Refusal::BadRequest("format: html, csv, json or oscal".into()))?,
        ),
        "bundle" => Kind::Bundle,
        _ => return Err(Refusal::BadRequest("kind: report or bundle".into())),
    };
    let job = state
        .jobs
        .start(&v.user, kind, key, state.now())
        .map_err(|busy| {
            tracing::warn!(user = %v.user, ?busy, "dashboard: export refused, too many running");
            Refusal::Busy(match busy {
                Busy::User => format!(
                    "You have {MAX_RUNNING_PER_USER} downloads being made already: wait until \
                     one is ready, then start this one again."
                ),
                Busy::Collector => format!(
                    "The collector is making {MAX_RUNNING} downloads already: try again in a \
                     few minutes."
                ),
            })
        })?;
    Jobs::keep_swept(&state);
    tracing::info!(user = %v.user, job = %job.id, what = kind.describe(), "dashboard: export started");
    let to = format!("/ui/downloads/jobs/{}", job.id);
    let (st, job2) = (Arc::clone(&state), Arc::clone(&job));
    // The export in its own task: a panic in it fails the job instead of leaving it
    // running for ever.
    let work = tokio::spawn(async move { export(&st, &job2).await });
    tokio::spawn(async move {
        let outcome = match work.await {
            Ok(Ok(made)) => {
                tracing::info!(user = %job.user, job = %job.id, file = %made.name, bytes = made.bytes, "dashboard: export made");
                Outcome::Done(made)
            }
            Ok(Err(why)) => {
                tracing::warn!(user = %job.user, job = %job.id, reason = %why, "dashboard: export failed");
                Outcome::Failed(why)
            }
            Err(e) => {
                tracing::error!(user = %job.user, job = %job.id, error = %e, "dashboard: export task failed");
                Outcome::Failed(INTERNAL.to_owned())
            }
        };
        job.finish(outcome, state.now());
    });
    Ok(Redirect::to(&to).into_response())
}

const INTERNAL: &str = "The collector could not make it; its log says why.";

/// A scratch file for an export.
fn scratch(state: &UiState, prefix: &str) -> Result<tempfile::TempPath, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(&state.scratch)
        .map(tempfile::NamedTempFile::into_temp_path)
        .map_err(|e| {
            tracing::error!(error = %e, "dashboard: export scratch file");
            INTERNAL.to_owned()
        })
}

/// Makes a job's file: the report of the job's view, or the evidence bundle; why
/// not, in words for the user.
async fn export(state: &Arc<UiState>, job: &Job) -> Result<Made, String> {
    let why = |r: Refusal| match r {
        Refusal::BadRequest(why) => why,
        _ => INTERNAL.to_owned(),
    };
    let progress = &job.progress;
    let (ext, _) = job.kind.file_type();
    let name = match job.kind {
        Kind::Report(_) => format!("attest-report-{}.{ext}", stamp(job.key, state)),
        Kind::Bundle => format!("attest-evidence-{}.{ext}", stamp(job.key, state)),
    };
    let path = match job.kind {
        Kind::Report(format) => {
            progress.step("evaluating the fleet", 0);
            if let Some(notice) = period_too_large(state, job.key).await.map_err(why)? {
                return Err(notice);
            }
            let view = state
                .views
                .get_observed(state, job.key, progress)
                .await
                .map_err(|e| why(e.into()))?;
            progress.step("writing the report", 0);
            let opts = super::view::options(state, job.key);
            let path = scratch(state, ".ui-report-")?;
            let (catalog, to) = (Arc::clone(&state.catalog), path.to_path_buf());
            tokio::task::spawn_blocking(move || {
                crate::report::write_file(&to, |out| {
                    crate::report::render(format, &view.report, &catalog, &opts, out)
                })
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "dashboard: report task");
                INTERNAL.to_owned()
            })?
            .map_err(|e| why(e.into()))?;
            path
        }
        Kind::Bundle => {
            if job.key.period_days > 0 {
                progress.step("counting the hosts of the period", 0);
            }
            if let Some(notice) = period_too_large(state, job.key).await.map_err(why)? {
                return Err(notice);
            }
            let opts = super::view::options(state, job.key);
            let path = scratch(state, ".ui-bundle-")?;
            let summary = crate::report::bundle::export(
                &state.stores,
                &state.catalog,
                &opts,
                &state.log_key,
                &path,
                progress,
            )
            .await
            .map_err(|e| why(e.into()))?;
            tracing::info!(user = %job.user, job = %job.id, envelopes = summary.envelopes, "dashboard: bundle made");
            path
        }
    };
    let bytes = tokio::fs::metadata(&path)
        .await
        .map(|m| m.len())
        .map_err(|e| {
            tracing::error!(error = %e, "dashboard: export file");
            INTERNAL.to_owned()
        })?;
    Ok(Made { path, name, bytes })
}

#[derive(Template)]
#[template(path = "ui/job.html")]
struct JobPage {
    nav: Option<Nav>,
    id: String,
    what: String,
    started: String,
    running: bool,
    label: String,
    done: usize,
    total: usize,
    percent: usize,
    error: Option<String>,
    file: Option<(String, String)>,
    expires: String,
}

/// "now" or "as of 2026-12-03", and the period.
fn scope_text(key: Key, started: Millis) -> String {
    let date = |ms: Millis| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
    };
    let at = match key.at {
        None => format!("now ({})", short_time(started)),
        Some(at) => format!("as of {}", date(at)),
    };
    if key.period_days == 0 {
        at
    } else {
        format!("{at}, over the {} days before", key.period_days)
    }
}

/// `1.2 MB`.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b < 1000 => format!("{b} bytes"),
        b if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// The job of `id` for this user, or 404 (another user's job is no different from
/// none).
async fn job_of(
    state: &UiState,
    headers: &HeaderMap,
    id: &str,
    path: &str,
) -> Result<(Viewer, Arc<Job>), Refusal> {
    let v = viewer(state, headers, path).await?;
    let job = state.jobs.get(id, &v.user, state.now()).ok_or_else(|| {
        Refusal::NotFound(
            "No such download: it was made for someone else, or over an hour ago (start it \
             again from Downloads)."
                .into(),
        )
    })?;
    Ok((v, job))
}

pub async fn download_job(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let (v, job) = job_of(&state, &headers, &id, "/ui/downloads").await?;
    // Whether it runs first: once it does not, what it made or why not is final.
    let running = job.running();
    let (label, done, total) = job.progress.snapshot();
    let file = job.file();
    Ok(render(&JobPage {
        nav: Nav::of(&v, "downloads"),
        id: job.id.clone(),
        what: format!(
            "{}, {}",
            job.kind.describe(),
            scope_text(job.key, job.started)
        ),
        started: short_time(job.started),
        running,
        label: if label.is_empty() {
            "starting".to_owned()
        } else {
            label
        },
        done,
        total,
        percent: (done * 100).checked_div(total).unwrap_or(0),
        error: job.error(),
        file: file
            .as_ref()
            .map(|(_, name, bytes)| (name.clone(), size_text(*bytes))),
        expires: job
            .finished()
            .map_or_else(String::new, |t| short_time(t + KEEP_MS)),
    }))
}

/// A finished job's file, as an attachment.
pub async fn download_job_file(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let (v, job) = job_of(&state, &headers, &id, "/ui/downloads").await?;
    let Some((path, name, _)) = job.file() else {
        // Not made yet, or failed: the job's page says which.
        return Ok(Redirect::to(&format!("/ui/downloads/jobs/{}", job.id)).into_response());
    };
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(error = %e, "dashboard: export file");
        Refusal::Internal
    })?;
    let (_, content_type) = job.kind.file_type();
    tracing::info!(user = %v.user, job = %job.id, file = %name, "dashboard: export downloaded");
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((attachment(content_type, &name), body).into_response())
}
