//! `GET /` on the debug listener: one server-rendered HTML page with what `/status` and
//! `/debug/denials` hold, for a human — the providers (issuers, audiences, kids, key-set
//! age, last fetch), the last reload, and each recent denial's `iss` / `aud` / `kid` /
//! `alg` / `typ` beside what the provider expects, the differing characters marked (see
//! [`super::diff`]).
//!
//! No script, no external asset: inline CSS under a `default-src 'none'` CSP. Every value
//! goes through [`Html::text`] (markup only from literals), so a hostile `aud` is shown as
//! text. Tokens are never held here: a denial record has only the decoded header fields and
//! claims above.

mod denials;

use super::AdminState;
use super::html::Html;
use crate::algorithm::Algorithm;
use crate::config::watch::LastReload;
use crate::observe::DenialRecord;
use crate::remote::FetchReport;
use crate::snapshot::{KeySource, Snapshot};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nothing may load, run or frame; only the inline stylesheet applies.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:4px 6px;\
text-align:left;vertical-align:top}th{background:#f2f2f2}\
code,.v{font-family:ui-monospace,monospace;font-size:13px;overflow-wrap:break-word}\
#providers td.v{white-space:nowrap}.ok{background:#eef8ee}.bad{background:#fdeeee}.muted{color:#888}\
mark{background:#ffd84d;outline:1px solid #c90}mark.gap{padding:0 2px;background:#f66}\
.kind{display:inline-block;margin-left:4px;padding:0 4px;border-radius:3px;background:#c33;\
color:#fff;font-size:12px}small{color:#555}";

/// Everything the page shows, read once per request.
pub struct PageData<'a> {
    pub snapshot: &'a Snapshot,
    pub ready: bool,
    pub reports: &'a [FetchReport],
    pub reloads: (u64, u64),
    pub last_reload: Option<LastReload>,
    pub denials: &'a [DenialRecord],
    pub now: SystemTime,
}

/// The handler: the page with `no-store` and the CSP.
pub async fn page(State(state): State<AdminState>) -> Response {
    let snapshot = state.snapshot.load();
    let reports = state.remote.reports();
    let denials = state.observer.recent_denials();
    let html = render(&PageData {
        snapshot: &snapshot,
        ready: state.is_ready(),
        reports: &reports,
        reloads: (state.reloads.applied(), state.reloads.rejected()),
        last_reload: state.reloads.last(),
        denials: &denials,
        now: SystemTime::now(),
    });
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (headers, html).into_response()
}

/// The whole document.
pub fn render(data: &PageData<'_>) -> String {
    let mut h = Html::default();
    h.raw("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<title>envoy-jwt-authz debug</title><style>")
        .raw(STYLE)
        .raw("</style></head><body><h1>envoy-jwt-authz ")
        .element("<small>", env!("CARGO_PKG_VERSION"), "</small></h1><p>")
        .raw(if data.ready {
            "ready"
        } else {
            "<b>not ready</b>"
        })
        .raw(" · config ")
        .element(
            "<code>",
            &data.snapshot.source.display().to_string(),
            "</code>",
        )
        .raw(" · rendered ")
        .text(&utc(unix(data.now)))
        .raw("</p>");
    reload(&mut h, data);
    denials::table(&mut h, data);
    providers(&mut h, data);
    h.raw("</body></html>\n");
    h.finish()
}

fn reload(h: &mut Html, data: &PageData<'_>) {
    let (applied, rejected) = data.reloads;
    h.raw("<h2>Last reload</h2><p id=\"reload\">")
        .text(&format!(
            "{applied} applied, {rejected} rejected since start. "
        ));
    match &data.last_reload {
        None => h.raw("No reload yet: serving the config read at start."),
        Some(last) => {
            let at = unix(last.at);
            let ago = unix(data.now) - at;
            h.raw("Last: ")
                .text(&format!("{} ({} ago) ", utc(at), ago_text(ago)));
            match &last.result {
                Ok(changes) => h
                    .raw("<span class=\"ok\">applied</span>: ")
                    .text(&changes.join("; ")),
                Err(error) => h
                    .raw(
                        "<span class=\"bad\">rejected</span>, the last good config keeps serving: ",
                    )
                    .element("<code>", error, "</code>"),
            }
        }
    };
    h.raw("</p>");
}

fn providers(h: &mut Html, data: &PageData<'_>) {
    h.raw("<h2>Providers</h2><table id=\"providers\"><tr><th>provider</th><th>issuers</th>")
        .raw("<th>audiences</th><th>kids</th><th>algorithms</th><th>key set</th>")
        .raw("<th>last fetch</th></tr>");
    for p in &data.snapshot.providers {
        let report = data.reports.iter().find(|r| r.provider == p.name);
        let kids = p.kids("(no kid)");
        let algorithms: Vec<&str> = p.algorithms.iter().map(Algorithm::name).collect();
        h.element("<tr><td><b>", &p.name, "</b></td>");
        list(h, &p.trusted_issuers());
        list(h, &p.audiences.iter().collect::<Vec<_>>());
        list(h, &kids);
        h.element("<td><small>", &algorithms.join(", "), "</small></td>");
        h.raw("<td>");
        match (&p.key_source, report) {
            (KeySource::Static, _) => h.raw("static (inline or file)"),
            (KeySource::Remote(_), Some(r)) => {
                h.element(
                    "<span class=\"v\">",
                    r.url.as_deref().unwrap_or(""),
                    "</span><br>",
                );
                match r.age {
                    Some(age) => {
                        let age = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
                        let keys = if r.keys == 1 { "key" } else { "keys" };
                        h.text(&format!("fetched {} ago, {} {keys}", ago_text(age), r.keys))
                    }
                    None => h.raw("<span class=\"bad\">never fetched</span>"),
                }
            }
            (KeySource::Remote(_), None) => h.raw("remote, not started"),
        };
        h.raw("</td>");
        match report {
            Some(r) => match &r.last_error {
                Some(error) => h.element("<td class=\"bad\">failed: <code>", error, "</code></td>"),
                None if r.fetches.get("ok").is_some_and(|n| *n > 0) => {
                    h.raw("<td class=\"ok\">ok</td>")
                }
                None => h.raw("<td class=\"muted\">none yet</td>"),
            },
            None => h.raw("<td class=\"muted\">n/a</td>"),
        };
        h.raw("</tr>");
    }
    h.raw("</table>");
}

/// A cell with one value per line.
fn list(h: &mut Html, values: &[impl AsRef<str>]) {
    h.raw("<td class=\"v\">");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            h.raw("<br>");
        }
        h.text(value.as_ref());
    }
    if values.is_empty() {
        h.raw("<span class=\"muted\">none</span>");
    }
    h.raw("</td>");
}

/// Seconds since the Unix epoch (0 for a time before it).
fn unix(t: SystemTime) -> i64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// `2027-01-15 08:00:00Z` (proleptic Gregorian calendar, UTC).
pub fn utc(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (rest / 3600, rest / 60 % 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}Z")
}

/// `42 s`, `7 min`, `3 h`, `2 d`.
fn ago_text(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests;
