//! Crontab specs as shell-operator reads them: it checks each schedule binding at config load with
//! `gopkg.in/robfig/cron.v2` `Parse` (shell-operator `pkg/hook/config/config_v1.go`, `CheckSchedule`; go.mod pins
//! `v2.0.0-20150107220207-be2e0b0deed5`), and a refused spec stops the whole operator. So `--config` refuses
//! exactly what that parser refuses (with a message of ours), and accepts what it accepts, except three specs it
//! takes that cannot be meant: a step of 0 (its bit loop never ends, shell-operator hangs at start-up), a field
//! of commas only (never fires) and `@every` below one second (it rounds that up to every second).
//!
//! The grammar of robfig/cron v2 (`parser.go`, `spec.go`, `constantdelay.go` at that commit):
//! - an optional `TZ=Zone ` prefix (up to the first space; `time.LoadLocation`: `""`/`UTC`/`Local`, else a name
//!   in the image's time zone database), then the rest trimmed;
//! - `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly`, or `@every ` and a Go duration;
//! - else 5 or 6 whitespace-separated fields (5 get a `0` seconds field first): seconds 0-59, minutes 0-59,
//!   hours 0-23, day of month 1-31, month 1-12 or `jan`-`dec`, day of week 0-6 or `sun`-`sat` (names in any
//!   case). A field is ranges separated by `,` (empty ones skipped); a range is `*` or `?` (all; anything after
//!   a `-` is then ignored), `N` or `N-M` (numbers as Go's `strconv.Atoi` reads them: an optional sign, digits),
//!   with an optional `/STEP`; `N/STEP` runs from N to the field's maximum.

/// What shell-operator's parser would refuse (or, for the three exceptions, what cannot be meant), in words.
pub type CrontabError = String;

struct Bounds {
    name: &'static str,
    min: u64,
    max: u64,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Bounds; 6] = [
    Bounds {
        name: "seconds",
        min: 0,
        max: 59,
        names: &[],
    },
    Bounds {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
    },
    Bounds {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
    },
    Bounds {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Bounds {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    Bounds {
        name: "day of week",
        min: 0,
        max: 6,
        names: &WEEKDAYS,
    },
];

const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Checks `spec` as shell-operator will read it.
pub fn check(spec: &str) -> Result<(), CrontabError> {
    let mut spec = spec;
    let trimmed;
    if let Some(rest) = spec.strip_prefix("TZ=") {
        let Some((zone, schedule)) = rest.split_once(' ') else {
            return Err("TZ=Zone must be followed by a space and the schedule".into());
        };
        check_zone(zone)?;
        trimmed = schedule.trim_matches(is_go_space);
        spec = trimmed;
    }
    if spec.starts_with('@') {
        return check_descriptor(spec);
    }
    let fields: Vec<&str> = spec.split(is_go_space).filter(|f| !f.is_empty()).collect();
    if fields.len() != 5 && fields.len() != 6 {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found {}",
            fields.len()
        ));
    }
    let bounds = &FIELDS[6 - fields.len()..];
    for (field, bounds) in fields.iter().zip(bounds) {
        check_field(field, bounds)
            .map_err(|why| format!("{} field {field:?}: {why}", bounds.name))?;
    }
    Ok(())
}

/// Go's `unicode.IsSpace`, which `strings.Fields` and `strings.TrimSpace` split and trim on: Rust's
/// `char::is_whitespace` is the same set (Unicode White_Space).
fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// `time.LoadLocation`'s own refusals; whether the zone exists is up to the image's time zone database.
fn check_zone(zone: &str) -> Result<(), CrontabError> {
    if matches!(zone, "" | "UTC" | "Local") {
        return Ok(());
    }
    if zone.starts_with(['/', '\\']) || zone.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!("TZ={zone}: not a time zone name"));
    }
    if !zone
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
    {
        return Err(format!(
            "TZ={zone}: not a time zone name (such as UTC or Europe/Berlin)"
        ));
    }
    Ok(())
}

fn check_descriptor(spec: &str) -> Result<(), CrontabError> {
    if DESCRIPTORS.contains(&spec) {
        return Ok(());
    }
    let Some(duration) = spec.strip_prefix("@every ") else {
        return Err(format!(
            "unknown descriptor {spec:?}: use one of {} or \"@every DURATION\"",
            DESCRIPTORS.join(", ")
        ));
    };
    let nanos = go_duration_nanos(duration).ok_or_else(|| {
        format!("@every {duration:?}: not a Go duration such as 30s, 1m30s or 2h")
    })?;
    if nanos < 1_000_000_000 {
        return Err(format!(
            "@every {duration}: shorter than one second (shell-operator would run it every second)"
        ));
    }
    Ok(())
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units ns, us, µs, μs, ms, s, m, h, or `0`.
fn go_duration_nanos(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_end];
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return None;
        }
        let value: f64 = format!("0{whole}.{fraction}0").parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * nanos_per_unit;
    }
    // Go refuses what does not fit an int64 of nanoseconds (about 292 years).
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total as i128;
    Some(if negative { -nanos } else { nanos })
}

fn check_field(field: &str, bounds: &Bounds) -> Result<(), CrontabError> {
    let ranges: Vec<&str> = field.split(',').filter(|r| !r.is_empty()).collect();
    if ranges.is_empty() {
        return Err("no value at all (the schedule would never fire)".into());
    }
    ranges
        .iter()
        .try_for_each(|range| check_range(range, bounds))
}

fn check_range(range: &str, bounds: &Bounds) -> Result<(), CrontabError> {
    let parts: Vec<&str> = range.split('/').collect();
    if parts.len() > 2 {
        return Err(format!("{range:?} has more than one '/'"));
    }
    let low_high: Vec<&str> = parts[0].split('-').collect();
    let (start, mut end) = if matches!(low_high[0], "*" | "?") {
        (bounds.min, bounds.max)
    } else {
        let start = number_or_name(low_high[0], bounds)?;
        match low_high.len() {
            1 => (start, start),
            2 => (start, number_or_name(low_high[1], bounds)?),
            _ => return Err(format!("{range:?} has more than one '-'")),
        }
    };
    if let Some(step) = parts.get(1) {
        let step = go_atoi(step).ok_or_else(|| format!("step {step:?} is not a number"))?;
        if step < 0 {
            return Err(format!("step {step} is negative"));
        }
        if step == 0 {
            return Err("a step of 0 (shell-operator would hang at start-up)".into());
        }
        if low_high.len() == 1 {
            end = bounds.max;
        }
    }
    if start < bounds.min {
        return Err(format!("{start} is below the minimum {}", bounds.min));
    }
    if end > bounds.max {
        return Err(format!("{end} is above the maximum {}", bounds.max));
    }
    if start > end {
        return Err(format!("the range starts at {start}, after its end {end}"));
    }
    Ok(())
}

fn number_or_name(text: &str, bounds: &Bounds) -> Result<u64, CrontabError> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = bounds.names.iter().position(|name| *name == lower) {
        return Ok(index as u64 + bounds.min);
    }
    let what = if bounds.names.is_empty() {
        "a number".to_string()
    } else {
        format!("a number or one of {}", bounds.names.join(" "))
    };
    match go_atoi(text) {
        None => Err(format!("{text:?} is not {what}")),
        Some(n) if n < 0 => Err(format!("{n} is negative")),
        Some(n) => Ok(n as u64),
    }
}

/// Go's `strconv.Atoi`: an optional sign, then decimal digits, within an int64.
fn go_atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case with what robfig/cron v2 (`Parse` at be2e0b0) does with it.
    #[test]
    fn specs_are_accepted_and_refused_as_robfig_cron_v2_does() {
        let accepted = [
            ("* * * * *", "5 fields: seconds 0 prepended"),
            ("*/30 * * * * *", "6 fields, seconds first"),
            ("0 9-17 * * MON-FRI", "names in any case"),
            ("0 0 1 jan,Jul ?", "month names, ? in day of week"),
            ("? ? ? ? ? ?", "? means * in every field"),
            ("*-5 * * * *", "after * the -5 is ignored"),
            ("5/15 * * * *", "N/step runs from N to the maximum"),
            ("+5 * * * *", "Atoi takes a sign"),
            ("05 * * * *", "leading zeros"),
            ("1,,2 * * * *", "empty ranges between commas are skipped"),
            ("*/100 * * * *", "a step beyond the range: just the start"),
            ("0\t*  * *\u{a0}*", "any Unicode space separates fields"),
            ("59 59 23 31 12 6", "every maximum"),
            ("@hourly", "descriptor"),
            ("@annually", "descriptor"),
            ("@midnight", "descriptor"),
            ("@every 30s", "Go duration"),
            ("@every 1h30m", "Go duration, two units"),
            ("@every 1.5s", "fraction: truncated to 1s"),
            ("@every 90\u{b5}s1s", "µs and more units"),
            ("TZ=UTC 0 3 * * *", "TZ prefix"),
            ("TZ=Europe/Berlin @daily", "TZ prefix with a descriptor"),
            ("TZ=  @daily", "an empty zone is UTC; the rest is trimmed"),
            ("TZ=Local * * * * *", "Local"),
        ];
        for (spec, upstream) in accepted {
            assert_eq!(check(spec), Ok(()), "{spec:?} ({upstream})");
        }
        let refused = [
            ("", "Expected 5 or 6 fields, found 0", "found 0"),
            ("* * * *", "Expected 5 or 6 fields, found 4", "found 4"),
            (
                "* * * * * * *",
                "Expected 5 or 6 fields, found 7",
                "found 7",
            ),
            (
                "60 * * * *",
                "End of range (60) above maximum (59)",
                "minutes field \"60\": 60 is above the maximum 59",
            ),
            ("* 24 * * *", "above maximum (23)", "hours field"),
            (
                "* * 0 * *",
                "Beginning of range (0) below minimum (1)",
                "day of month field \"0\": 0 is below the minimum 1",
            ),
            ("* * 32 * *", "above maximum (31)", "above the maximum 31"),
            ("* * * 13 *", "above maximum (12)", "month field"),
            (
                "* * * * 7",
                "End of range (7) above maximum (6)",
                "day of week field \"7\": 7 is above the maximum 6",
            ),
            ("60 * * * * *", "seconds above maximum", "seconds field"),
            (
                "5-1 * * * *",
                "Beginning of range (5) beyond end of range (1)",
                "after its end",
            ),
            (
                "50/5-1 * * * *",
                "Failed to parse int from 5-1",
                "step \"5-1\" is not a number",
            ),
            ("1-2-3 * * * *", "Too many hyphens", "more than one '-'"),
            ("*/2/3 * * * *", "Too many slashes", "more than one '/'"),
            (
                "*/-1 * * * *",
                "Negative number (-1) not allowed",
                "negative",
            ),
            (
                "-5 * * * *",
                "Failed to parse int from (empty low end)",
                "\"\" is not a number",
            ),
            (
                "-0 * * * *",
                "split on '-' before Atoi: an empty low end, so even -0 fails",
                "\"\" is not a number",
            ),
            (
                "5- * * * *",
                "Failed to parse int from (empty high end)",
                "\"\" is not a number",
            ),
            (
                "* * * * monday",
                "Failed to parse int from monday",
                "one of sun mon",
            ),
            ("* * * foo *", "Failed to parse int from foo", "one of jan"),
            (
                "mon * * * *",
                "names only in month and day of week",
                "\"mon\" is not a number",
            ),
            ("1.5 * * * *", "Atoi refuses a fraction", "not a number"),
            (
                "99999999999999999999 * * * *",
                "Atoi: value out of range",
                "not a number",
            ),
            (
                "* * * * ;",
                "Failed to parse int from ;",
                "day of week field",
            ),
            (
                "CRON_TZ=UTC * * * * *",
                "v2 has no CRON_TZ: its 'seconds' field fails Atoi",
                "seconds field",
            ),
            (
                "@sometimes",
                "Unrecognized descriptor",
                "unknown descriptor",
            ),
            (
                "@every",
                "Unrecognized descriptor (no space)",
                "unknown descriptor",
            ),
            (
                "@every soon",
                "Failed to parse duration",
                "not a Go duration",
            ),
            (
                "@every 30",
                "Failed to parse duration: missing unit",
                "not a Go duration",
            ),
            (
                "@every  30s",
                "ParseDuration(\" 30s\") fails",
                "not a Go duration",
            ),
            ("@every 30S", "unknown unit S", "not a Go duration"),
            (
                "TZ=UTC",
                "slice out of range: no space after the zone",
                "followed by a space",
            ),
            (
                "TZ=../etc/passwd * * * * *",
                "LoadLocation: invalid location name",
                "not a time zone name",
            ),
            (
                "TZ=/etc/localtime * * * * *",
                "LoadLocation: invalid location name",
                "not a time zone name",
            ),
        ];
        for (spec, upstream, ours) in refused {
            let error = check(spec).expect_err(spec);
            assert!(
                error.contains(ours),
                "{spec:?} (upstream: {upstream}): our message {error:?} should say {ours:?}"
            );
        }
        // Accepted upstream but not meant: refused here, with why.
        let not_meant = [
            (
                "*/0 * * * *",
                "step 0: getBits loops for ever, shell-operator hangs",
                "step of 0",
            ),
            (
                ", * * * *",
                "no range: the field matches nothing, never fires",
                "never fire",
            ),
            (
                "@every 0s",
                "rounded up to 1s: every second",
                "shorter than one second",
            ),
            (
                "@every 500ms",
                "rounded up to 1s",
                "shorter than one second",
            ),
            (
                "@every -5m",
                "negative: rounded up to 1s",
                "shorter than one second",
            ),
        ];
        for (spec, upstream, ours) in not_meant {
            let error = check(spec).expect_err(spec);
            assert!(
                error.contains(ours),
                "{spec:?} (upstream: {upstream}): {error:?}"
            );
        }
    }
}

// TEMPORARY shim until the schedule work lands: every-minute only.
pub struct Schedule;
impl Schedule {
    pub fn parse(spec: &str) -> Result<Schedule, CrontabError> {
        check(spec).map(|_| Schedule)
    }
    pub fn require_utc(&self) -> Result<(), CrontabError> {
        Ok(())
    }
    pub fn fire_times(&self, from: i64, to: i64, limit: usize) -> Vec<i64> {
        let first = from + (60 - from.rem_euclid(60)) % 60;
        (0..)
            .map(|k| first + 60 * k)
            .take_while(|t| *t <= to)
            .take(limit)
            .collect()
    }
}
