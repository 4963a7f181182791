//! A bar chart of a value per UTC day, drawn on the server as SVG: no script, no library, and
//! the same numbers as the table beside it.

use tollgate_core::time::{day_of, day_string, parse_instant, DateEdge};

/// Width and height of the drawing, in its own units (it scales to its box).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
/// Room under the bars for the day labels.
const AXIS: f64 = 22.0;

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Left edge.
    pub x: String,
    /// Top edge.
    pub y: String,
    /// Width.
    pub w: String,
    /// Height.
    pub h: String,
    /// What the bar's tooltip says: the day and its value.
    pub title: String,
}

/// A label under the bars.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Its centre.
    pub x: String,
    /// The day.
    pub text: String,
}

/// A drawn chart.
#[derive(Debug, Clone)]
pub struct DayChart {
    /// The drawing's `viewBox`.
    pub view_box: String,
    /// Where the axis runs.
    pub axis_y: String,
    /// Its right end.
    pub width: String,
    /// The bars, one per day of the range (days without a value have none).
    pub bars: Vec<Bar>,
    /// Labels of the first, middle and last days.
    pub ticks: Vec<Tick>,
    /// The tallest bar's value, as text.
    pub top: String,
}

/// Draws `values` (day `YYYY-MM-DD` to a value and its text) over every day from `start` to
/// `end`.
pub fn days(start: &str, end: &str, values: &[(String, i64, String)]) -> DayChart {
    let day = |d: &str| parse_instant(d, DateEdge::Start).map(day_of).unwrap_or(0);
    let (first, last) = (day(start), day(end).max(day(start)));
    let n = (last - first + 1) as usize;
    let step = WIDTH / n as f64;
    let width = (step * 0.8).max(0.5);
    let max = values.iter().map(|v| v.1).max().unwrap_or(0).max(1) as f64;
    let plot = HEIGHT - AXIS;
    let mut bars = Vec::new();
    let mut top = String::from("0");
    let mut top_value = 0;
    for (date, value, text) in values {
        let i = day(date) - first;
        if i < 0 || i as usize >= n || *value <= 0 {
            continue;
        }
        let h = (*value as f64 / max * (plot - 4.0)).max(1.0);
        bars.push(Bar {
            x: format!("{:.2}", i as f64 * step + (step - width) / 2.0),
            y: format!("{:.2}", plot - h),
            w: format!("{width:.2}"),
            h: format!("{h:.2}"),
            title: format!("{date}: {text}"),
        });
        if *value > top_value {
            top_value = *value;
            top = text.clone();
        }
    }
    let mut ticks = Vec::new();
    for i in [0, (n - 1) / 2, n - 1] {
        if ticks.iter().any(|t: &(usize, Tick)| t.0 == i) {
            continue;
        }
        let x = (i as f64 + 0.5) * step;
        ticks.push((
            i,
            Tick {
                x: format!("{:.2}", x.clamp(36.0, WIDTH - 36.0)),
                text: day_string(first + i as i64),
            },
        ));
    }
    DayChart {
        view_box: format!("0 0 {WIDTH} {HEIGHT}"),
        axis_y: format!("{plot:.2}"),
        width: format!("{WIDTH}"),
        bars,
        ticks: ticks.into_iter().map(|(_, t)| t).collect(),
        top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_of_the_range_has_a_slot_and_the_tallest_bar_fills_the_plot() {
        let c = days(
            "2026-03-01",
            "2026-03-04",
            &[
                ("2026-03-02".into(), 10, "10".into()),
                ("2026-03-04".into(), 5, "5".into()),
            ],
        );
        assert_eq!(c.bars.len(), 2, "days without a value draw nothing");
        assert_eq!(
            c.bars[0].x, "198.00",
            "centred in the second of four slots of 180"
        );
        assert_eq!(c.bars[0].h, "154.00");
        assert_eq!(c.bars[1].h, "77.00");
        assert_eq!(c.top, "10");
        let labels: Vec<&str> = c.ticks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(labels, ["2026-03-01", "2026-03-02", "2026-03-04"]);
    }

    #[test]
    fn a_single_day_is_one_slot_with_one_label() {
        let c = days(
            "2026-03-01",
            "2026-03-01",
            &[("2026-03-01".into(), 3, "3".into())],
        );
        assert_eq!(c.bars.len(), 1);
        assert_eq!(c.ticks.len(), 1);
    }
}
