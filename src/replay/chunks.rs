//! Cutting a replayed period into range queries, and reading one tick's window off a chunk's points. Pure.
//!
//! Every live tick evaluates its signals on multiples of the step (the newest at or before the tick) over a
//! window of `range` before that ([`crate::taint::aligned_end`], the resize range query): so one range query
//! from the first tick's window start to the last tick's end, on the same grid, holds exactly the points each
//! of those ticks would have read. A chunk is as many consecutive ticks as fit in `max_points` evaluations
//! per series: one query per signal per chunk, its answer bounded, never one per tick, node or container.

use std::ops::Range;

/// Prometheus refuses a range query of more than 11,000 points per series (`web/api/v1/api.go`,
/// "exceeded maximum resolution of 11,000 points per timeseries").
pub const MAX_POINTS_PER_SERIES: u64 = 11_000;

/// About what one point costs in a range answer: `[1764680000,"0.0123456789012345"],` (Prometheus writes
/// floats with up to 17 significant digits).
pub const ANSWER_BYTES_PER_POINT: u64 = 36;

/// The ticks `ticks` of the period, read with one range query per signal from `start_ms` to `end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub ticks: Range<usize>,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Points per series a chunk may ask for, so the answer stays under half of `max_response_bytes` for about
/// `series` series; at least 2 and at most Prometheus' limit.
pub fn points_budget(series: usize, max_response_bytes: u64) -> u64 {
    let per_point = ANSWER_BYTES_PER_POINT.saturating_mul(series.max(1) as u64);
    (max_response_bytes / 2 / per_point).clamp(2, MAX_POINTS_PER_SERIES)
}

/// The next chunk from tick `first`: `ends_ms` are the ticks' newest evaluations (ascending, on the step
/// grid), each reading `range_ms` before it. Holds at least one tick, and more while the query stays within
/// `max_points` per series.
pub fn next_chunk(
    ends_ms: &[i64],
    first: usize,
    range_ms: i64,
    step_ms: i64,
    max_points: u64,
) -> Chunk {
    let start_ms = ends_ms[first] - range_ms;
    let step_ms = step_ms.max(1);
    let mut last = first;
    while last + 1 < ends_ms.len() {
        let points = (ends_ms[last + 1] - start_ms) / step_ms + 1;
        if points as u64 > max_points {
            break;
        }
        last += 1;
    }
    Chunk {
        ticks: first..last + 1,
        start_ms,
        end_ms: ends_ms[last],
    }
}

/// The points of one series a tick at `end_ms` reads: those evaluated in `[end_ms - range_ms, end_ms]`, as the
/// live range query from `end - range` to `end` returns them (ages compared in whole milliseconds, the API's
/// precision). `points` are oldest first.
pub fn window(points: &[(f64, f64)], end_ms: i64, range_ms: i64) -> &[(f64, f64)] {
    let first = count_before(points, end_ms - range_ms);
    let last = count_before(points, end_ms.saturating_add(1));
    &points[first..last.max(first)]
}

fn at_ms(point: &(f64, f64)) -> i64 {
    (point.0 * 1000.0).round() as i64
}

/// How many of `points` (times ascending) lie before `time_ms`: `partition_point`'s answer. Every tick of a
/// chunk reads every series' window, millions of times per replayed day, and a binary search of each was a
/// tenth of a replay: the points lie on the step grid, so the answer is first looked for where the grid puts
/// it, a few points around; only gaps in a series move it further, and then it is searched for.
fn count_before(points: &[(f64, f64)], time_ms: i64) -> usize {
    const NEAR: usize = 4;
    let n = points.len();
    let before = |i: usize| at_ms(&points[i]) < time_ms;
    if n >= 2 {
        let first = at_ms(&points[0]);
        let step = ((at_ms(&points[n - 1]) - first) / (n as i64 - 1)).max(1);
        let steps = (time_ms - first).max(0);
        // The first grid point at or after `time_ms`.
        let mut i = (steps / step + i64::from(steps % step != 0)).min(n as i64) as usize;
        for _ in 0..NEAR {
            if i > 0 && !before(i - 1) {
                i -= 1;
            } else if i < n && before(i) {
                i += 1;
            } else {
                return i;
            }
        }
        if (i == 0 || before(i - 1)) && (i == n || !before(i)) {
            return i;
        }
    }
    points.partition_point(|p| at_ms(p) < time_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_holds_consecutive_ticks_while_the_points_fit() {
        // Ticks every 60 s, windows of 1800 s, 30 s steps: the first tick alone needs 61 points.
        let ends: Vec<i64> = (0..10).map(|i| 1_000_000_000 + i * 60_000).collect();
        let chunk = next_chunk(&ends, 0, 1_800_000, 30_000, 65);
        assert_eq!(
            chunk.ticks,
            0..3,
            "61, 63, 65 points; a fourth tick needs 67"
        );
        assert_eq!(chunk.start_ms, ends[0] - 1_800_000);
        assert_eq!(chunk.end_ms, ends[2]);
        let next = next_chunk(&ends, 3, 1_800_000, 30_000, 65);
        assert_eq!(next.ticks, 3..6);
    }

    #[test]
    fn a_chunk_holds_one_tick_even_over_the_budget() {
        let ends = [10_000_000, 10_060_000];
        assert_eq!(next_chunk(&ends, 0, 1_800_000, 30_000, 2).ticks, 0..1);
        assert_eq!(next_chunk(&ends, 1, 1_800_000, 30_000, 2).ticks, 1..2);
    }

    #[test]
    fn the_budget_keeps_the_answer_under_half_the_limit() {
        let points = points_budget(10_000, 256 * 1024 * 1024);
        assert!(points * 10_000 * ANSWER_BYTES_PER_POINT <= 128 * 1024 * 1024);
        assert!(points > 300, "{points}");
        assert_eq!(points_budget(1, u64::MAX), MAX_POINTS_PER_SERIES);
        assert_eq!(points_budget(1_000_000_000, 1), 2);
    }

    #[test]
    fn a_window_is_closed_at_both_ends_as_a_range_query_is() {
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| (100.0 + 30.0 * i as f64, i as f64))
            .collect();
        let window = window(&points, 250_000, 90_000);
        assert_eq!(
            window.iter().map(|p| p.1).collect::<Vec<_>>(),
            [2.0, 3.0, 4.0, 5.0]
        );
        assert!(super::window(&points, 50_000, 30_000).is_empty());
    }

    #[test]
    fn a_window_is_the_one_a_search_finds_with_gaps_and_uneven_steps() {
        use proptest::prelude::*;
        let search = |points: &[(f64, f64)], end_ms: i64, range_ms: i64| {
            let at = |p: &(f64, f64)| (p.0 * 1000.0).round() as i64;
            let first = points.partition_point(|p| at(p) < end_ms - range_ms);
            let last = points.partition_point(|p| at(p) <= end_ms);
            first..last.max(first)
        };
        let grid = (
            proptest::collection::vec((1u32..=5, 0u32..3), 0..80),
            0i64..4_000_000,
            0i64..3_000_000,
        );
        proptest!(|((gaps, end_offset, range_ms) in grid)| {
            // Mostly a 30 s grid, some steps skipped (gaps), some points a millisecond off.
            let mut at_ms = 1_764_680_000_000i64;
            let points: Vec<(f64, f64)> = gaps
                .iter()
                .map(|&(skip, jitter)| {
                    at_ms += 30_000 * i64::from(skip) + i64::from(jitter);
                    (at_ms as f64 / 1000.0, 1.0)
                })
                .collect();
            let end_ms = 1_764_680_000_000 + end_offset;
            let found = window(&points, end_ms, range_ms);
            let expected = &points[search(&points, end_ms, range_ms)];
            prop_assert_eq!(found, expected);
        });
    }
}
