//! An SVG step chart of the best score over time, drawn on the server.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 240.0;
const PAD: f64 = 40.0;

/// `points` are (time ms, score millionths) in time order; the line steps to
/// each new best. `baseline` is drawn dashed.
pub fn best_over_time(points: &[(u64, i64)], higher_is_better: bool, baseline: i64) -> String {
    if points.is_empty() {
        return r#"<p class="muted" id="chart-empty">No final scores yet.</p>"#.to_owned();
    }
    let mut best: Vec<(u64, i64)> = Vec::new();
    for &(t, s) in points {
        let better = best
            .last()
            .is_none_or(|&(_, b)| if higher_is_better { s > b } else { s < b });
        if better {
            best.push((t, s));
        }
    }
    let t0 = points[0].0;
    let t1 = points.last().expect("non-empty").0.max(t0 + 1);
    let lo = points
        .iter()
        .map(|p| p.1)
        .chain([baseline])
        .min()
        .expect("non-empty");
    let hi = points
        .iter()
        .map(|p| p.1)
        .chain([baseline])
        .max()
        .expect("non-empty");
    let span = (hi - lo).max(1) as f64;
    let x = |t: u64| PAD + (t - t0) as f64 / (t1 - t0) as f64 * (W - 2.0 * PAD);
    let y = |s: i64| H - PAD - (s - lo) as f64 / span * (H - 2.0 * PAD);
    let mut path = String::new();
    for (i, &(t, s)) in best.iter().enumerate() {
        if i == 0 {
            let _ = write!(path, "M{:.1},{:.1}", x(t), y(s));
        } else {
            let _ = write!(path, " H{:.1} V{:.1}", x(t), y(s));
        }
    }
    let _ = write!(path, " H{:.1}", x(t1));
    let mut dots = String::new();
    for &(t, s) in points {
        let _ = write!(
            dots,
            r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="3" fill="#999"/>"##,
            x(t),
            y(s)
        );
    }
    let fmt = |s: i64| format!("{:.4}", s as f64 / 1e6);
    format!(
        r##"<svg id="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="best score over time">
<rect x="0" y="0" width="{W}" height="{H}" fill="#fafafa"/>
<line x1="{PAD}" y1="{by:.1}" x2="{xr:.1}" y2="{by:.1}" stroke="#c00" stroke-dasharray="4 3"/>
<text x="{PAD}" y="{bty:.1}" font-size="11" fill="#c00">baseline {bl}</text>
{dots}
<path class="best" d="{path}" fill="none" stroke="#0a58ca" stroke-width="2"/>
<text x="4" y="{ty:.1}" font-size="11">{hi}</text><text x="4" y="{by2:.1}" font-size="11">{lo}</text>
</svg>"##,
        by = y(baseline),
        bty = y(baseline) - 4.0,
        xr = W - PAD,
        bl = fmt(baseline),
        ty = PAD,
        by2 = H - PAD,
        hi = fmt(hi),
        lo = fmt(lo),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_steps_only_to_new_bests() {
        let svg = best_over_time(&[(0, 500_000), (10, 400_000), (20, 700_000)], true, 100_000);
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        let path = svg
            .split("class=\"best\" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        // Start, one step up to 0.7, then to the end: the worse 0.4 is not a step.
        assert_eq!(path.matches(" V").count(), 1, "{path}");
        assert!(best_over_time(&[], true, 0).contains("No final scores"));
    }
}
