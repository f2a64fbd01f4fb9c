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
//!
//! [`Schedule`] is the parsed form, for `replay`: the times the spec fires at over a period, as robfig's
//! `SpecSchedule.Next` and `ConstantDelaySchedule.Next` compute them, in UTC.

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

const SECONDS: Bounds = Bounds {
    name: "seconds",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTES: Bounds = Bounds {
    name: "minutes",
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    name: "hours",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Bounds = Bounds {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTHS,
};
const DAY_OF_WEEK: Bounds = Bounds {
    name: "day of week",
    min: 0,
    max: 6,
    names: &WEEKDAYS,
};
/// In the order of a 6-field spec.
const FIELDS: [Bounds; 6] = [SECONDS, MINUTES, HOURS, DAY_OF_MONTH, MONTH, DAY_OF_WEEK];

const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// robfig's `starBit`: set in a field's bits when one of its ranges starts with `*` or `?`; only the day fields
/// look at it (see [`Fields::day_matches`]).
const STAR_BIT: u64 = 1 << 63;

/// Zones replayed as UTC: `time.LoadLocation`'s own `""` and `UTC`; `Local`, Go's `time.Local` as with no prefix
/// at all (UTC in a container with neither `TZ` nor `/etc/localtime`, which replay assumes); and the tz
/// database's names for UTC (tzdata `etcetera` and `backward`).
const UTC_ZONES: [&str; 20] = [
    "",
    "UTC",
    "Local",
    "Etc/UTC",
    "Etc/UCT",
    "UCT",
    "Etc/Universal",
    "Universal",
    "Etc/Zulu",
    "Zulu",
    "Etc/GMT",
    "GMT",
    "Etc/GMT0",
    "GMT0",
    "Etc/GMT+0",
    "GMT+0",
    "Etc/GMT-0",
    "GMT-0",
    "Etc/Greenwich",
    "Greenwich",
];

const DAY: i64 = 86_400;

/// A parsed schedule binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    when: When,
    /// The `TZ=` zone, when it is not one of [`UTC_ZONES`].
    zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    Fields(Fields),
    /// `@every`, in whole seconds (robfig's `Every` truncates the fraction).
    Every {
        seconds: i64,
    },
}

/// robfig's `SpecSchedule`: bit N set when value N matches, plus [`STAR_BIT`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    second: u64,
    minute: u64,
    hour: u64,
    day_of_month: u64,
    month: u64,
    day_of_week: u64,
}

/// Checks `spec` as shell-operator will read it.
pub fn check(spec: &str) -> Result<(), CrontabError> {
    Schedule::parse(spec).map(|_| ())
}

impl Schedule {
    /// Reads `spec` as shell-operator does; refuses what [`check`] refuses.
    pub fn parse(spec: &str) -> Result<Schedule, CrontabError> {
        let mut spec = spec;
        let mut zone = None;
        let trimmed;
        if let Some(rest) = spec.strip_prefix("TZ=") {
            let Some((name, schedule)) = rest.split_once(' ') else {
                return Err("TZ=Zone must be followed by a space and the schedule".into());
            };
            check_zone(name)?;
            if !UTC_ZONES.contains(&name) {
                zone = Some(name.to_string());
            }
            trimmed = schedule.trim_matches(is_go_space);
            spec = trimmed;
        }
        let when = if spec.starts_with('@') {
            parse_descriptor(spec)?
        } else {
            When::Fields(parse_fields(spec)?)
        };
        Ok(Schedule { when, zone })
    }

    /// [`Schedule::fire_times`] computes in UTC, and kube-thermostat carries no time zone database: a spec in
    /// another zone cannot be replayed as written. `@every` does not depend on the zone.
    pub fn require_utc(&self) -> Result<(), CrontabError> {
        match (&self.zone, &self.when) {
            (Some(zone), When::Fields(_)) => Err(format!(
                "TZ={zone}: replay reads schedules in UTC only (there is no time zone database in \
                 kube-thermostat); pass --every to tick at a fixed interval instead"
            )),
            _ => Ok(()),
        }
    }

    /// Fire times in [from, to] (unix seconds, UTC), ascending; `limit` caps how many (error-free truncation is
    /// the caller's business: return at most limit). Call [`Schedule::require_utc`] first: a spec with another
    /// `TZ=` is computed as if it said UTC.
    ///
    /// `@every D` fires at `from + k*D` for k = 0, 1, ...: shell-operator counts it from its own start (its first
    /// run is one D after), which a replay does not know, so a replay anchors at the period start.
    pub fn fire_times(&self, from_secs: i64, to_secs: i64, limit: usize) -> Vec<i64> {
        if from_secs > to_secs || limit == 0 {
            return Vec::new();
        }
        match &self.when {
            When::Every { seconds } => {
                std::iter::successors(Some(from_secs), |t| t.checked_add(*seconds))
                    .take_while(|t| *t <= to_secs)
                    .take(limit)
                    .collect()
            }
            When::Fields(fields) => fields.fire_times(from_secs, to_secs, limit),
        }
    }
}

impl Fields {
    /// Every second robfig's `Next` would return, called first on `from - 1` and then on each time it returned
    /// (cron v2 `cron.go` `run` asks for the next time after the one it ran). `Next` returns the earliest
    /// matching second after its argument, in UTC, or gives up (the zero time, and cron never runs the entry
    /// again) past the end of the fifth year after the second it starts from.
    fn fire_times(&self, from: i64, to: i64, limit: usize) -> Vec<i64> {
        let values = |bits: u64, bounds: &Bounds| -> Vec<i64> {
            (bounds.min..=bounds.max)
                .filter(|value| bits & (1 << value) != 0)
                .map(|value| value as i64)
                .collect()
        };
        let (hours, minutes, seconds) = (
            values(self.hour, &HOURS),
            values(self.minute, &MINUTES),
            values(self.second, &SECONDS),
        );
        let mut times: Vec<i64> = Vec::new();
        for day in from.div_euclid(DAY)..=to.div_euclid(DAY) {
            let searched_from = times.last().map_or(from, |last| last.saturating_add(1));
            let (year, month, day_of_month) = civil_from_days(day);
            if year > civil_from_days(searched_from.div_euclid(DAY)).0 + 5 {
                break;
            }
            let day_of_week = (day + 4).rem_euclid(7); // 1970-01-01 was a Thursday
            if self.month & (1 << month) == 0 || !self.day_matches(day_of_month, day_of_week) {
                continue;
            }
            let start = day * DAY;
            for hour in &hours {
                for minute in &minutes {
                    for second in &seconds {
                        let Some(time) = start.checked_add(hour * 3600 + minute * 60 + second)
                        else {
                            return times;
                        };
                        if time < from {
                            continue;
                        }
                        if time > to {
                            return times;
                        }
                        times.push(time);
                        if times.len() == limit {
                            return times;
                        }
                    }
                }
            }
        }
        times
    }

    /// robfig's `dayMatches` (`spec.go`): both day fields must match when either was written with `*` or `?`
    /// (so `0 0 * * 1` is Mondays only), either one when both are restricted (`0 0 1 * 1`: the 1st or a Monday).
    fn day_matches(&self, day_of_month: i64, day_of_week: i64) -> bool {
        let dom = self.day_of_month & (1 << day_of_month) != 0;
        let dow = self.day_of_week & (1 << day_of_week) != 0;
        if (self.day_of_month | self.day_of_week) & STAR_BIT != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01: H. Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>), exact for any i64 day of a unix
/// second.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // from 0000-03-01, so leap days end a year
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

fn parse_fields(spec: &str) -> Result<Fields, CrontabError> {
    let fields: Vec<&str> = spec.split(is_go_space).filter(|f| !f.is_empty()).collect();
    if fields.len() != 5 && fields.len() != 6 {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found {}",
            fields.len()
        ));
    }
    // Five fields: robfig prepends "0" for the seconds.
    let mut bits = [1 << SECONDS.min; 6];
    let first = 6 - fields.len();
    for ((field, bounds), bits) in fields.iter().zip(&FIELDS[first..]).zip(&mut bits[first..]) {
        *bits = parse_field(field, bounds)
            .map_err(|why| format!("{} field {field:?}: {why}", bounds.name))?;
    }
    let [second, minute, hour, day_of_month, month, day_of_week] = bits;
    Ok(Fields {
        second,
        minute,
        hour,
        day_of_month,
        month,
        day_of_week,
    })
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

/// robfig's `parseDescriptor`: each named one is a `SpecSchedule` whose unnamed fields are "all" (with the star
/// bit, so `@weekly` is Sundays and `@monthly` the 1st).
fn parse_descriptor(spec: &str) -> Result<When, CrontabError> {
    let all = |bounds: &Bounds| all_bits(bounds) | STAR_BIT;
    let first = |bounds: &Bounds| 1 << bounds.min;
    let midnight = |day_of_month, month, day_of_week| Fields {
        second: first(&SECONDS),
        minute: first(&MINUTES),
        hour: first(&HOURS),
        day_of_month,
        month,
        day_of_week,
    };
    let named = match spec {
        "@yearly" | "@annually" => Some(midnight(
            first(&DAY_OF_MONTH),
            first(&MONTH),
            all(&DAY_OF_WEEK),
        )),
        "@monthly" => Some(midnight(
            first(&DAY_OF_MONTH),
            all(&MONTH),
            all(&DAY_OF_WEEK),
        )),
        "@weekly" => Some(midnight(
            all(&DAY_OF_MONTH),
            all(&MONTH),
            first(&DAY_OF_WEEK),
        )),
        "@daily" | "@midnight" => {
            Some(midnight(all(&DAY_OF_MONTH), all(&MONTH), all(&DAY_OF_WEEK)))
        }
        "@hourly" => Some(Fields {
            hour: all(&HOURS),
            ..midnight(all(&DAY_OF_MONTH), all(&MONTH), all(&DAY_OF_WEEK))
        }),
        _ => None,
    };
    if let Some(fields) = named {
        return Ok(When::Fields(fields));
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
    // Below about 292 years (go_duration_nanos), so it fits.
    Ok(When::Every {
        seconds: (nanos / 1_000_000_000) as i64,
    })
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

/// robfig's `getField`: the bits of every range, or'ed.
fn parse_field(field: &str, bounds: &Bounds) -> Result<u64, CrontabError> {
    let ranges: Vec<&str> = field.split(',').filter(|r| !r.is_empty()).collect();
    if ranges.is_empty() {
        return Err("no value at all (the schedule would never fire)".into());
    }
    ranges.iter().try_fold(0, |bits, range| {
        parse_range(range, bounds).map(|range_bits| bits | range_bits)
    })
}

/// robfig's `getRange`: the values `start..=end` by `step`, plus [`STAR_BIT`] for `*` and `?`.
fn parse_range(range: &str, bounds: &Bounds) -> Result<u64, CrontabError> {
    let parts: Vec<&str> = range.split('/').collect();
    if parts.len() > 2 {
        return Err(format!("{range:?} has more than one '/'"));
    }
    let low_high: Vec<&str> = parts[0].split('-').collect();
    let star = matches!(low_high[0], "*" | "?");
    let (start, mut end) = if star {
        (bounds.min, bounds.max)
    } else {
        let start = number_or_name(low_high[0], bounds)?;
        match low_high.len() {
            1 => (start, start),
            2 => (start, number_or_name(low_high[1], bounds)?),
            _ => return Err(format!("{range:?} has more than one '-'")),
        }
    };
    let mut step = 1;
    if let Some(text) = parts.get(1) {
        step = go_atoi(text).ok_or_else(|| format!("step {text:?} is not a number"))?;
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
    let values = (start..=end).step_by(usize::try_from(step).unwrap_or(usize::MAX));
    let bits = values.fold(0, |bits, value| bits | 1 << value);
    Ok(if star { bits | STAR_BIT } else { bits })
}

/// robfig's `getBits(min, max, 1)`.
fn all_bits(bounds: &Bounds) -> u64 {
    (bounds.min..=bounds.max).fold(0, |bits, value| bits | 1 << value)
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

    /// Specs robfig/cron v2 (`Parse` at be2e0b0) accepts, each with what it does with it.
    const ACCEPTED: [(&str, &str); 24] = [
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

    /// Each case with what robfig/cron v2 (`Parse` at be2e0b0) does with it.
    #[test]
    fn specs_are_accepted_and_refused_as_robfig_cron_v2_does() {
        for (spec, upstream) in ACCEPTED {
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

    fn unix(civil: &str) -> i64 {
        format!("{civil}Z")
            .parse::<k8s_openapi::jiff::Timestamp>()
            .unwrap()
            .as_second()
    }

    fn civil(unix: i64) -> String {
        let time = k8s_openapi::jiff::Timestamp::from_second(unix).unwrap();
        time.strftime("%Y-%m-%d %H:%M:%S").to_string()
    }

    /// The fire times of `spec` from `from` to `to` (UTC, `YYYY-MM-DDTHH:MM:SS`), as civil times.
    fn fires(spec: &str, from: &str, to: &str) -> Vec<String> {
        let schedule = Schedule::parse(spec).unwrap();
        assert_eq!(schedule.require_utc(), Ok(()), "{spec:?}");
        schedule
            .fire_times(unix(from), unix(to), usize::MAX)
            .into_iter()
            .map(civil)
            .collect()
    }

    #[test]
    fn fields_fire_on_the_matching_seconds_within_the_period_inclusive() {
        assert_eq!(
            fires("* * * * *", "2025-06-02T12:00:30", "2025-06-02T12:03:00"),
            [
                "2025-06-02 12:01:00",
                "2025-06-02 12:02:00",
                "2025-06-02 12:03:00"
            ]
        );
        assert_eq!(
            fires("*/2 * * * *", "2025-06-02T12:00:00", "2025-06-02T12:07:00"),
            [
                "2025-06-02 12:00:00",
                "2025-06-02 12:02:00",
                "2025-06-02 12:04:00",
                "2025-06-02 12:06:00"
            ]
        );
        assert_eq!(
            fires(
                "*/30 * * * * *",
                "2025-06-02T12:00:00",
                "2025-06-02T12:01:30"
            ),
            [
                "2025-06-02 12:00:00",
                "2025-06-02 12:00:30",
                "2025-06-02 12:01:00",
                "2025-06-02 12:01:30"
            ]
        );
        // Across an hour, a day and a year end.
        assert_eq!(
            fires(
                "59 59 23 * * *",
                "2025-12-30T00:00:00",
                "2026-01-01T23:59:59"
            ),
            [
                "2025-12-30 23:59:59",
                "2025-12-31 23:59:59",
                "2026-01-01 23:59:59"
            ]
        );
        assert_eq!(
            fires("0 0 29 2 *", "2025-01-01T00:00:00", "2033-01-01T00:00:00"),
            ["2028-02-29 00:00:00", "2032-02-29 00:00:00"],
            "leap days only"
        );
    }

    /// robfig's `dayMatches`: with a `*` (or `?`) in either day field both must match, else either may.
    #[test]
    fn day_of_month_and_day_of_week_combine_as_robfig_cron_v2_does() {
        let (from, to) = ("2025-06-01T00:00:00", "2025-07-31T23:59:59");
        let days = |spec| -> Vec<String> {
            fires(spec, from, to)
                .into_iter()
                .map(|time| time[..10].to_string())
                .collect()
        };
        let mondays = [
            "2025-06-02",
            "2025-06-09",
            "2025-06-16",
            "2025-06-23",
            "2025-06-30",
            "2025-07-07",
            "2025-07-14",
            "2025-07-21",
            "2025-07-28",
        ];
        assert_eq!(days("0 0 * * 1"), mondays, "Mondays only");
        assert_eq!(days("0 0 ? * mon"), mondays, "? is a star too");
        assert_eq!(
            days("0 0 1 * *"),
            ["2025-06-01", "2025-07-01"],
            "the 1st only"
        );
        assert_eq!(days("0 0 1 * ?"), ["2025-06-01", "2025-07-01"]);
        let first_or_monday = [
            "2025-06-01",
            "2025-06-02",
            "2025-06-09",
            "2025-06-16",
            "2025-06-23",
            "2025-06-30",
            "2025-07-01",
            "2025-07-07",
            "2025-07-14",
            "2025-07-21",
            "2025-07-28",
        ];
        assert_eq!(days("0 0 1 * 1"), first_or_monday, "the 1st or a Monday");
        // A star anywhere in the field counts, a full range written out does not.
        assert_eq!(days("0 0 */1 * 1"), mondays);
        assert_eq!(days("0 0 1,* * 1"), mondays);
        assert_eq!(days("0 0 1-31 * 1").len(), 61, "every day of June and July");
    }

    #[test]
    fn descriptors_fire_as_their_robfig_schedules() {
        assert_eq!(
            fires("@hourly", "2025-06-02T10:30:00", "2025-06-02T13:00:00"),
            [
                "2025-06-02 11:00:00",
                "2025-06-02 12:00:00",
                "2025-06-02 13:00:00"
            ]
        );
        let (from, to) = ("2025-06-01T00:00:01", "2026-01-01T00:00:00");
        for (spec, first, count) in [
            ("@daily", "2025-06-02 00:00:00", 214),
            ("@midnight", "2025-06-02 00:00:00", 214),
            ("@weekly", "2025-06-08 00:00:00", 30), // Sundays
            ("@monthly", "2025-07-01 00:00:00", 7),
            ("@yearly", "2026-01-01 00:00:00", 1),
            ("@annually", "2026-01-01 00:00:00", 1),
        ] {
            let times = fires(spec, from, to);
            assert_eq!((times[0].as_str(), times.len()), (first, count), "{spec}");
        }
    }

    #[test]
    fn every_fires_from_the_period_start_in_whole_seconds() {
        let from = unix("2025-06-02T12:00:07");
        let to = unix("2025-06-02T12:04:37");
        let every = Schedule::parse("@every 90s").unwrap();
        assert_eq!(
            every.fire_times(from, to, usize::MAX),
            [from, from + 90, from + 180, from + 270]
        );
        let truncated = Schedule::parse("@every 1m30.9s").unwrap();
        assert_eq!(truncated.fire_times(from, to, usize::MAX).len(), 4);
        // A constant delay does not depend on the zone.
        let berlin = Schedule::parse("TZ=Europe/Berlin @every 90s").unwrap();
        assert_eq!(berlin.require_utc(), Ok(()));
        assert_eq!(berlin.fire_times(from, to, usize::MAX).len(), 4);
    }

    #[test]
    fn at_most_limit_times_and_nothing_for_an_empty_period() {
        let every_second = Schedule::parse("* * * * * *").unwrap();
        let from = unix("2025-06-02T12:00:00");
        assert_eq!(
            every_second.fire_times(from, from + 86_400, 3),
            [from, from + 1, from + 2]
        );
        assert_eq!(every_second.fire_times(from, from + 86_400, 0), [0; 0]);
        assert_eq!(every_second.fire_times(from + 1, from, 10), [0; 0]);
        assert_eq!(every_second.fire_times(from, from, 10), [from]);
        let every = Schedule::parse("@every 1m").unwrap();
        assert_eq!(every.fire_times(from, from + 3600, 2), [from, from + 60]);
        assert_eq!(every.fire_times(from + 1, from, 10), [0; 0]);
    }

    /// robfig's `Next` gives up past the end of the fifth year after it starts searching, and cron v2 then never
    /// runs the entry again (values from `Next` at be2e0b0).
    #[test]
    fn a_schedule_stops_where_robfig_next_gives_up() {
        // The 1st of February that is a Monday (*/29 is the 1st and the 30th): 1993, then 1999 (too far), 2010.
        assert_eq!(
            fires(
                "0 0 0 */29 2 1",
                "1990-01-01T00:00:00",
                "2050-12-31T00:00:00"
            ),
            ["1993-02-01 00:00:00"]
        );
        assert_eq!(
            fires(
                "0 0 0 */29 2 1",
                "1994-01-01T00:00:00",
                "2050-12-31T00:00:00"
            ),
            ["1999-02-01 00:00:00"]
        );
        let never = Schedule::parse("0 0 31 2 ?").unwrap();
        assert_eq!(never.fire_times(0, i64::MAX, usize::MAX), [0; 0]);
    }

    #[test]
    fn every_accepted_spec_parses_and_fires_within_a_year() {
        let (from, to) = (unix("2025-01-01T00:00:00"), unix("2026-01-01T00:00:00"));
        for (spec, upstream) in ACCEPTED {
            let schedule = Schedule::parse(spec).unwrap_or_else(|why| panic!("{spec:?}: {why}"));
            assert_eq!(
                schedule.fire_times(from, to, 1).len(),
                1,
                "{spec:?} ({upstream})"
            );
        }
    }

    #[test]
    fn only_utc_is_replayed_and_the_refusal_says_what_to_do() {
        for spec in [
            "0 3 * * *",
            "TZ=UTC 0 3 * * *",
            "TZ= 0 3 * * *",
            "TZ=Local 0 3 * * *",
            "TZ=Etc/UTC 0 3 * * *",
            "TZ=Europe/Berlin @every 5m",
        ] {
            assert_eq!(
                Schedule::parse(spec).unwrap().require_utc(),
                Ok(()),
                "{spec}"
            );
        }
        let berlin = Schedule::parse("TZ=Europe/Berlin 0 3 * * *").unwrap();
        let why = berlin.require_utc().unwrap_err();
        assert!(
            why.contains("Europe/Berlin") && why.contains("--every"),
            "{why}"
        );
    }

    /// 7 days of a 6-field every-second spec is the replay's worst case.
    #[test]
    fn a_week_of_every_second() {
        let from = unix("2025-06-02T00:00:00");
        let to = from + 7 * 86_400 - 1;
        let times = Schedule::parse("* * * * * *")
            .unwrap()
            .fire_times(from, to, usize::MAX);
        assert_eq!(times.len(), 604_800);
        assert!(times.windows(2).all(|pair| pair[1] == pair[0] + 1));
        assert_eq!((times[0], times[604_799]), (from, to));
    }

    #[test]
    fn civil_from_days_agrees_with_jiff() {
        // jiff's range is years -9999..=9999.
        for days in (-4_000_000..4_000_000).step_by(997) {
            let Ok(time) = k8s_openapi::jiff::Timestamp::from_second(days * DAY) else {
                continue;
            };
            let date = time.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC).date();
            let expected = (
                i64::from(date.year()),
                i64::from(date.month()),
                i64::from(date.day()),
            );
            assert_eq!(civil_from_days(days), expected, "day {days}");
            let weekday = date.weekday().to_sunday_zero_offset();
            assert_eq!((days + 4).rem_euclid(7), i64::from(weekday), "day {days}");
        }
    }
}
