//! The page shell (navigation, messages, stylesheet) and the small formatting helpers every
//! page uses.

use chrono::{DateTime, Utc};
use kaizen_core::rules::ContextValue;
use kaizen_core::snapshot::TrendDirection;
use kaizen_store::proposals::ActorKind;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::session::{Notice, Tone};

/// The section a page belongs to (highlighted in the navigation bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// `/ui`.
    Dashboard,
    /// `/ui/proposals…`.
    Proposals,
    /// `/ui/rollouts…`.
    Rollouts,
    /// `/ui/org`.
    Org,
    /// `/ui/cycles…`.
    Cycles,
    /// `/ui/audit`.
    Audit,
    /// Login and error pages.
    None,
}

const LINKS: [(Nav, &str, &str); 6] = [
    (Nav::Dashboard, "/ui", "Dashboard"),
    (Nav::Proposals, "/ui/proposals", "Proposals"),
    (Nav::Rollouts, "/ui/rollouts", "Rollouts"),
    (Nav::Org, "/ui/org", "Org"),
    (Nav::Cycles, "/ui/cycles", "Cycles"),
    (Nav::Audit, "/ui/audit", "Audit"),
];

/// Who is logged in, for the navigation bar.
#[derive(Debug, Clone)]
pub struct Who<'a> {
    /// The principal.
    pub principal: &'a str,
    /// Human or agent.
    pub kind: ActorKind,
    /// The session's CSRF token (for the logout form).
    pub csrf: &'a str,
}

const CSS: &str = r#"
*,*::before,*::after{box-sizing:border-box}
html{font-size:15px}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d2329;background:#f6f7f9;line-height:1.45}
a{color:#0b57d0;text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#1d2329;color:#fff}
header.top .bar{max-width:1240px;margin:0 auto;padding:0 16px;display:flex;align-items:center;gap:18px;flex-wrap:wrap;min-height:48px}
header.top .brand{font-weight:700;letter-spacing:.02em;color:#fff;margin-right:8px}
header.top nav{display:flex;gap:4px;flex-wrap:wrap;flex:1}
header.top nav a{color:#c9d1d9;padding:6px 10px;border-radius:6px}
header.top nav a.active,header.top nav a:hover{background:#39424c;color:#fff;text-decoration:none}
header.top .who{display:flex;align-items:center;gap:8px;color:#c9d1d9;font-size:.9rem}
header.top .who button{background:transparent;color:#c9d1d9;border:1px solid #5b6470;padding:3px 10px}
main{max-width:1240px;margin:0 auto;padding:18px 16px 48px}
h1{font-size:1.45rem;margin:.2rem 0 .8rem;overflow-wrap:anywhere}
h2{font-size:1.12rem;margin:1.6rem 0 .6rem}
h3{font-size:1rem;margin:1rem 0 .4rem}
.card{background:#fff;border:1px solid #dfe3e8;border-radius:8px;padding:14px 16px;margin:0 0 14px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:14px}
.grid .card{margin:0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px}
figure.chart{margin:0;background:#fff;border:1px solid #dfe3e8;border-radius:8px;padding:10px 12px}
figure.chart figcaption{font-weight:600;font-size:.92rem;margin-bottom:4px;display:flex;flex-wrap:wrap;gap:10px;align-items:center}
figure.chart svg{width:100%;height:auto;display:block}
.legend{display:flex;gap:10px;font-weight:400;color:#5b6470}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
p.empty,.muted{color:#5b6470}
table{width:100%;border-collapse:collapse;background:#fff;font-size:.9rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top;overflow-wrap:anywhere}
th{background:#f0f2f5;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
dl.kv{display:grid;grid-template-columns:fit-content(50%) minmax(0,1fr);gap:4px 14px;margin:0}
dl.kv dt{color:#5b6470}dl.kv dd{margin:0;overflow-wrap:anywhere;font-variant-numeric:tabular-nums}
.notice{padding:10px 14px;border-radius:8px;margin:0 0 14px;border:1px solid}
.notice.ok{background:#e8f5ec;border-color:#a6d9b4;color:#125c2b}
.notice.warn{background:#fff6e0;border-color:#f0cf7a;color:#6b4d00}
.notice.error{background:#fdecec;border-color:#f0a8a8;color:#8a1c1c}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.8rem;font-weight:600;background:#e3e6ea;color:#39424c;white-space:nowrap}
.badge.pending,.badge.paused,.badge.inconclusive,.badge.warning{background:#fff1c2;color:#6b4d00}
.badge.approved,.badge.rolling_out,.badge.observing,.badge.rolling_back{background:#dbe8ff;color:#0b3d91}
.badge.applied,.badge.improved,.badge.ok,.badge.pass,.badge.continue{background:#d6f0de;color:#125c2b}
.badge.rejected,.badge.rolled_back,.badge.rollback_failed,.badge.critical,.badge.reject,.badge.error,.badge.refused,.badge.roll_back{background:#fbd9d9;color:#8a1c1c}
.trend.improving{color:#137333}.trend.declining{color:#b3261e}.trend.stable{color:#5b6470}
.filters{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 12px}
.filters a{padding:3px 10px;border-radius:14px;background:#fff;border:1px solid #dfe3e8}
.filters a.active{background:#1d2329;color:#fff;border-color:#1d2329}
form.inline{display:inline}
form.action{display:flex;flex-direction:column;gap:8px;max-width:640px}
form.row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end}
label{font-weight:600;font-size:.9rem}
input[type=text],input[type=password],input[type=number],select,textarea{font:inherit;padding:6px 8px;border:1px solid #c3c9d0;border-radius:6px;background:#fff;max-width:100%}
textarea{min-height:4.2em;width:100%}
button{font:inherit;padding:6px 14px;border-radius:6px;border:1px solid #1d2329;background:#1d2329;color:#fff;cursor:pointer}
button.danger{background:#b3261e;border-color:#b3261e}
button.secondary{background:#fff;color:#1d2329}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86rem;overflow-wrap:anywhere}
ul.changes{margin:.2rem 0;padding-left:1.2rem}ul.changes li{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86rem;overflow-wrap:anywhere}
.pager{display:flex;gap:12px;margin:10px 0}
.nowrap{white-space:nowrap;overflow-wrap:normal}
.login{max-width:460px;margin:8vh auto}
"#;

/// A whole page: `title`, the navigation bar (for `who`, with `active` highlighted),
/// `notices` and `body`.
pub fn page(
    title: &str,
    who: Option<&Who<'_>>,
    active: Nav,
    notices: &[Notice],
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · kaizen" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header.top {
                    div.bar {
                        a.brand href="/ui" { "kaizen" }
                        @if let Some(who) = who {
                            nav {
                                @for (nav, href, label) in LINKS {
                                    a href=(href) class=[(nav == active).then_some("active")] { (label) }
                                }
                            }
                            div.who {
                                span { (who.principal) " (" (who.kind.as_str()) ")" }
                                form.inline method="post" action="/ui/logout" {
                                    input type="hidden" name="csrf" value=(who.csrf);
                                    button type="submit" { "Log out" }
                                }
                            }
                        }
                    }
                }
                main {
                    @for n in notices {
                        (notice(n))
                    }
                    (body)
                }
            }
        }
    }
}

/// One message box.
pub fn notice(n: &Notice) -> Markup {
    let class = match n.tone {
        Tone::Ok => "notice ok",
        Tone::Warn => "notice warn",
        Tone::Error => "notice error",
    };
    html! { div class=(class) role=(if n.tone == Tone::Error { "alert" } else { "status" }) { (n.text) } }
}

/// A status / state / verdict badge; the CSS class is the wire name.
pub fn badge(s: &str) -> Markup {
    html! { span class=(format!("badge {s}")) { (s) } }
}

/// `2026-11-20 14:05 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A number with up to `digits` decimals, or `–`.
pub fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".to_owned(),
    }
}

/// A fraction (0–1) as a percentage, or `–`.
pub fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.1} %", v * 100.0),
        _ => "–".to_owned(),
    }
}

/// US dollars, or `–`.
pub fn usd(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v.abs() >= 100.0 => format!("${v:.0}"),
        Some(v) if v.is_finite() => format!("${v:.2}"),
        _ => "–".to_owned(),
    }
}

/// A trend arrow with its word.
pub fn trend(t: TrendDirection) -> Markup {
    let (class, text) = match t {
        TrendDirection::Improving => ("trend improving", "↑ improving"),
        TrendDirection::Declining => ("trend declining", "↓ declining"),
        TrendDirection::Stable => ("trend stable", "→ stable"),
    };
    html! { span class=(class) { (text) } }
}

/// A rule's evidence value: whole numbers as they are, reals with 3 decimals (1 from 100 on).
pub fn context_value(v: &ContextValue) -> String {
    match v {
        ContextValue::Int(i) => i.to_string(),
        ContextValue::Number(x) if x.abs() >= 100.0 => format!("{x:.1}"),
        ContextValue::Number(x) => format!("{x:.3}"),
        ContextValue::Text(s) => s.clone(),
        ContextValue::Null => "–".to_owned(),
    }
}

/// Percent-encodes one path segment or query value (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_ids_and_escapes_the_rest() {
        assert_eq!(enc("cfg-ab12_x.y~"), "cfg-ab12_x.y~");
        assert_eq!(enc("a/b?c d"), "a%2Fb%3Fc%20d");
        assert_eq!(enc("é"), "%C3%A9");
    }

    #[test]
    fn missing_numbers_are_dashes() {
        assert_eq!(num(None, 2), "–");
        assert_eq!(num(Some(f64::NAN), 2), "–");
        assert_eq!(pct(Some(0.256)), "25.6 %");
        assert_eq!(usd(Some(1234.4)), "$1234");
        assert_eq!(usd(Some(1.234)), "$1.23");
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let html = page(
            "<t>",
            None,
            Nav::None,
            &[Notice::error("<script>")],
            html! { p { "x" } },
        )
        .into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }
}
