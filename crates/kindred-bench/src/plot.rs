//! SVG plots (plotters' SVG backend: no fonts or system libraries needed).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// Cumulative distribution of latencies (ms, each series sorted) for
/// several series.
pub fn cdf(path: &Path, title: &str, series: &[(&str, &[f64])]) -> Result<()> {
    let points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, values)| {
            let n = values.len().max(1) as f64;
            let pts = values
                .iter()
                .enumerate()
                .map(|(k, v)| (*v, (k + 1) as f64 / n))
                .collect();
            (*name, pts)
        })
        .collect();
    let refs: Vec<(&str, &[(f64, f64)])> = points.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    lines(
        path,
        title,
        "latency from publish to member (ms)",
        "fraction of deliveries",
        &refs,
    )
}

/// A simple x/y line chart (e.g. messages stored over time).
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(&str, &[(f64, f64)])],
) -> Result<()> {
    let (mut xm, mut ym) = (0.1f64, 0.1f64);
    for (_, pts) in series {
        for (x, y) in pts.iter() {
            xm = xm.max(*x);
            ym = ym.max(*y);
        }
    }
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..xm * 1.02, 0.0..ym * 1.05)
        .map_err(|e| anyhow!("plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    let colors = [RED, BLUE, GREEN, BLACK];
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(|e| anyhow!("plot: {e}"))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    root.present().map_err(|e| anyhow!("plot: {e}"))?;
    Ok(())
}
