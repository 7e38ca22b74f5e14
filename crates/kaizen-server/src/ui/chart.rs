//! Small inline SVG line charts: one or two series over labelled points, gaps where a value is
//! missing (no data is not zero), drawn on the server so the UI needs no JavaScript.

use maud::{Markup, html};

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// One value per x label; `None` is a gap.
    pub points: Vec<Option<f64>>,
    /// Drawn dashed (a forecast or a limit rather than observations).
    pub dashed: bool,
}

const W: f64 = 560.0;
const H: f64 = 190.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// A line chart titled `title` of `series` over the points labelled `labels`; `fmt` formats the
/// y-axis values. Without any value it says so instead of drawing empty axes.
pub fn line_chart(
    title: &str,
    labels: &[String],
    series: &[Series],
    fmt: fn(f64) -> String,
) -> Markup {
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().flatten().copied())
        .filter(|v| v.is_finite())
        .collect();
    let n = labels.len();
    if values.is_empty() || n == 0 {
        return html! {
            figure.chart {
                figcaption { (title) }
                p.empty { "no data in this period" }
            }
        };
    }
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo >= 0.0 && lo < (hi - lo) * 0.5 {
        lo = 0.0;
    }
    if (hi - lo).abs() < f64::EPSILON {
        let pad = if hi.abs() > 0.0 { hi.abs() * 0.1 } else { 1.0 };
        lo -= pad;
        hi += pad;
        if values.iter().all(|v| *v >= 0.0) && lo < 0.0 {
            lo = 0.0;
        }
    }
    let (lo, hi, grid) = nice_ticks(lo, hi);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| {
        if n <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - (v - lo) / (hi - lo));
    let ticks: Vec<usize> = match n {
        0 => vec![],
        1 => vec![0],
        2 => vec![0, 1],
        _ => vec![0, (n - 1) / 2, n - 1],
    };
    let aria = format!(
        "{title}: {}",
        series
            .iter()
            .map(|s| {
                let last = s.points.iter().rev().flatten().next();
                match last {
                    Some(v) => format!("{} latest {}", s.name, fmt(*v)),
                    None => format!("{} no data", s.name),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
    html! {
        figure.chart {
            figcaption {
                (title)
                @if series.len() > 1 {
                    span.legend {
                        @for s in series {
                            span.key { span.swatch style=(format!("background:{}", s.color)) {} (s.name) }
                        }
                    }
                }
            }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(aria)
                preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg" {
                title { (aria) }
                @for g in &grid {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(r(y(*g))) y2=(r(y(*g))) stroke="#e3e6ea" stroke-width="1" {}
                    text x=(LEFT - 6.0) y=(r(y(*g) + 4.0)) text-anchor="end" font-size="11" fill="#5b6470" { (fmt(*g)) }
                }
                @for i in &ticks {
                    text x=(r(x(*i))) y=(H - 8.0) text-anchor=(anchor(*i, n)) font-size="11" fill="#5b6470" { (labels[*i]) }
                }
                @for s in series {
                    @for seg in segments(&s.points) {
                        @if seg.len() > 1 {
                            polyline fill="none" stroke=(s.color) stroke-width="2"
                                stroke-dasharray=[s.dashed.then_some("6 4")]
                                points=(seg.iter().map(|(i, v)| format!("{},{}", r(x(*i)), r(y(*v)))).collect::<Vec<_>>().join(" ")) {}
                        }
                    }
                    @for (i, v) in s.points.iter().enumerate() {
                        @if let Some(v) = v.filter(|v| v.is_finite() && !s.dashed) {
                            circle cx=(r(x(i))) cy=(r(y(v))) r="3" fill=(s.color) {
                                title { (labels.get(i).map(String::as_str).unwrap_or("")) ": " (fmt(v)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A range covering `lo..hi` that starts and ends on a round step (1, 2 or 5 × 10ⁿ) with
/// three to six gridlines, and those gridlines.
fn nice_ticks(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let raw = (hi - lo) / 3.0;
    if !(raw.is_finite() && raw > 0.0) {
        return (lo, hi, vec![lo, hi]);
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut k = 0.0;
    while start + k * step <= end + step * 1e-9 && ticks.len() < 12 {
        ticks.push(start + k * step);
        k += 1.0;
    }
    (start, end, ticks)
}

fn anchor(i: usize, n: usize) -> &'static str {
    if n > 1 && i == 0 {
        "start"
    } else if n > 1 && i == n - 1 {
        "end"
    } else {
        "middle"
    }
}

/// Rounds a coordinate to one decimal (shorter markup).
fn r(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The runs of consecutive present values.
fn segments(points: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (i, p) in points.iter().enumerate() {
        match p.filter(|v| v.is_finite()) {
            Some(v) => cur.push((i, v)),
            None => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: f64) -> String {
        format!("{v:.1}")
    }

    #[test]
    fn gaps_split_the_line() {
        let segs = segments(&[Some(1.0), None, Some(2.0), Some(3.0), None]);
        assert_eq!(segs, vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)]]);
    }

    #[test]
    fn a_chart_is_an_svg_with_one_polyline_per_run() {
        let labels: Vec<String> = (1..=4).map(|d| format!("d{d}")).collect();
        let html = line_chart(
            "quality",
            &labels,
            &[Series {
                name: "quality".into(),
                color: "#1f6feb",
                points: vec![Some(7.0), Some(7.5), None, Some(8.0)],
                dashed: false,
            }],
            num,
        )
        .into_string();
        assert!(html.contains("<svg"), "{html}");
        assert_eq!(html.matches("<polyline").count(), 1, "{html}");
        assert_eq!(html.matches("<circle").count(), 3, "{html}");
        assert!(html.contains("latest 8.0"), "{html}");
    }

    #[test]
    fn no_values_means_no_axes() {
        let html = line_chart(
            "spend",
            &["a".to_owned()],
            &[Series {
                name: "spend".into(),
                color: "#000",
                points: vec![None],
                dashed: false,
            }],
            num,
        )
        .into_string();
        assert!(!html.contains("<svg"));
        assert!(html.contains("no data"));
    }

    #[test]
    fn ticks_are_round() {
        let (lo, hi, ticks) = nice_ticks(0.79, 0.89);
        assert!(
            (lo - 0.75).abs() < 1e-9 && (hi - 0.9).abs() < 1e-9,
            "{lo} {hi}"
        );
        assert_eq!(ticks.len(), 4, "{ticks:?}");
        let (lo, hi, ticks) = nice_ticks(0.0, 1.0);
        assert_eq!((lo, hi), (0.0, 1.0));
        assert_eq!(ticks.len(), 3, "{ticks:?}");
    }

    #[test]
    fn a_flat_line_still_has_a_range() {
        let html = line_chart(
            "flat",
            &["a".to_owned(), "b".to_owned()],
            &[Series {
                name: "x".into(),
                color: "#000",
                points: vec![Some(5.0), Some(5.0)],
                dashed: false,
            }],
            num,
        )
        .into_string();
        assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
    }
}
