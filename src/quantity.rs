//! Exact Kubernetes `resource.Quantity` parsing and canonical formatting, without floats.
//!
//! Follows apimachinery's `ParseQuantity` / `CanonicalizeBytes` (pkg/api/resource/quantity.go,
//! suffix.go): `<sign><digits>[.<digits>]<suffix>` where the suffix is a binary SI unit (`Ki`..`Ei`),
//! a decimal SI unit (`n u m "" k M G T P E`) or a decimal exponent (`e3`, `E-2`). Values keep nine
//! decimal places (anything finer rounds up, away from zero, to `1n`) and are capped at 2^63-1 units.
//!
//! Deliberate differences from apimachinery, all on input the API server never emits:
//! - a number needs at least one digit (Go reads `"+"`, `"-"` and `"."` as zero);
//! - more than 29 significant digits (20 with a binary suffix) is an error, not an arbitrary-precision value;
//! - decimal values above 2^63-1 are capped like binary ones (Go keeps them exact).
//!
//! Pure: imports nothing of the crate.

use std::fmt;
use std::str::FromStr;

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// apimachinery caps quantities at 2^63-1 units (`maxAllowed`).
const MAX_NANOS: i128 = (i64::MAX as i128) * NANOS_PER_UNIT;
/// Enough for any canonical value (2^63 units in nanos has 28 digits) while keeping i128 exact.
const MAX_SIGNIFICANT_DIGITS: usize = 29;
/// With a binary suffix the mantissa is multiplied by up to 2^60: 10^20 * 2^60 < i128::MAX.
const MAX_SIGNIFICANT_DIGITS_BINARY: usize = 20;

/// The suffix family a quantity was written with; canonical output keeps it, as the API server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Format {
    /// `12M`, `250m`, `2`
    DecimalSi,
    /// `512Mi`, `1Gi`
    BinarySi,
    /// `1e3`, `12E-3`
    DecimalExponent,
}

/// An exact quantity: value in nano-units plus the format it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    nanos: i128,
    format: Format,
}

/// A text that is not a Kubernetes quantity, or a value out of range for its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    pub text: String,
    pub problem: String,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a Kubernetes quantity: {}",
            self.text, self.problem
        )
    }
}

impl std::error::Error for QuantityError {}

fn error(text: &str, problem: impl Into<String>) -> QuantityError {
    QuantityError {
        text: text.to_string(),
        problem: problem.into(),
    }
}

impl Amount {
    pub fn parse(text: &str) -> Result<Amount, QuantityError> {
        parse(text)
    }

    /// A value in whole nano-units (1e-9), the finest Kubernetes keeps.
    pub fn from_nanos(nanos: i128, format: Format) -> Amount {
        Amount {
            nanos: nanos.clamp(-MAX_NANOS, MAX_NANOS),
            format,
        }
    }

    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The value in units of 10^-scale_digits, rounded up (towards +inf) as apimachinery's
    /// `ScaledValue` does: `MilliValue()` is `scaled_ceil(3)`, `Value()` is `scaled_ceil(0)`.
    fn scaled_ceil(&self, scale_digits: u32) -> i64 {
        let divisor = 10_i128.pow(9 - scale_digits);
        let value =
            self.nanos.div_euclid(divisor) + i128::from(self.nanos.rem_euclid(divisor) != 0);
        i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
    }
}

impl FromStr for Amount {
    type Err = QuantityError;
    fn from_str(text: &str) -> Result<Amount, QuantityError> {
        parse(text)
    }
}

fn parse(text: &str) -> Result<Amount, QuantityError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        None => return Err(error(text, "it is empty")),
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        Some(_) => false,
    };
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_digits = &text[int_start..pos];
    let mut frac_digits = "";
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_digits = &text[frac_start..pos];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(error(text, "it has no digits"));
    }
    let suffix = &text[pos..];
    let (base, exponent, format) = interpret_suffix(suffix)
        .ok_or_else(|| error(text, format!("unknown suffix {suffix:?} (allowed: n u m k M G T P E Ki Mi Gi Ti Pi Ei, e<exponent>)")))?;

    let digits = format!("{int_digits}{frac_digits}");
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        let format = if format == Format::BinarySi {
            Format::BinarySi
        } else {
            format
        };
        return Ok(Amount { nanos: 0, format });
    }
    let max_digits = match base {
        Base::Ten => MAX_SIGNIFICANT_DIGITS,
        Base::Two => MAX_SIGNIFICANT_DIGITS_BINARY,
    };
    if significant.len() > max_digits {
        return Err(error(
            text,
            format!("more than {max_digits} significant digits"),
        ));
    }
    let mantissa: i128 = significant
        .parse()
        .map_err(|_| error(text, "its digits do not form a number"))?;
    // value = mantissa * 10^(decimal_exponent) * 2^(binary_exponent); in nanos add 9 to the decimal one.
    let frac_len = i64::try_from(frac_digits.len()).unwrap_or(i64::MAX);
    let (decimal_exponent, binary_exponent) = match base {
        Base::Ten => (exponent.saturating_sub(frac_len).saturating_add(9), 0_u32),
        Base::Two => (9 - frac_len, u32::try_from(exponent).unwrap_or(0)),
    };
    // Safe: binary mantissas have at most 20 digits (see MAX_SIGNIFICANT_DIGITS_BINARY).
    let scaled = mantissa << binary_exponent;
    let magnitude = if decimal_exponent >= 0 {
        u32::try_from(decimal_exponent)
            .ok()
            .and_then(|e| 10_i128.checked_pow(e))
            .and_then(|p| scaled.checked_mul(p))
            .map_or(MAX_NANOS, |v| v.min(MAX_NANOS))
    } else {
        // Finer than a nano: round up, so that a request for "some" never becomes zero.
        let divisor = u32::try_from(-decimal_exponent)
            .ok()
            .and_then(|e| 10_i128.checked_pow(e));
        match divisor {
            Some(d) => (scaled + d - 1) / d,
            None => 1,
        }
        .min(MAX_NANOS)
    };
    let format = if format == Format::BinarySi && magnitude < NANOS_PER_UNIT {
        Format::DecimalSi
    } else {
        format
    };
    Ok(Amount {
        nanos: if negative { -magnitude } else { magnitude },
        format,
    })
}

#[derive(Clone, Copy)]
enum Base {
    Ten,
    Two,
}

fn interpret_suffix(suffix: &str) -> Option<(Base, i64, Format)> {
    let decimal = |e| Some((Base::Ten, e, Format::DecimalSi));
    let binary = |e| Some((Base::Two, e, Format::BinarySi));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let unsigned = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Exponents beyond ±100 only cap or round to 1n; saturate instead of failing.
            let exponent =
                rest.parse::<i64>()
                    .unwrap_or(if rest.starts_with('-') { -100 } else { 100 });
            Some((
                Base::Ten,
                exponent.clamp(-100, 100),
                Format::DecimalExponent,
            ))
        }
    }
}

impl fmt::Display for Amount {
    /// The API server's canonical form: no fractional digits, the largest exact suffix of the format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let units_exact = self.nanos % NANOS_PER_UNIT == 0;
        let mut format = self.format;
        if format == Format::BinarySi && (self.nanos.abs() < 1024 * NANOS_PER_UNIT || !units_exact)
        {
            format = Format::DecimalSi;
        }
        if format == Format::BinarySi {
            let mut mantissa = self.nanos / NANOS_PER_UNIT;
            let mut power = 0;
            while power < 6 && mantissa % 1024 == 0 {
                mantissa /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            return write!(f, "{mantissa}{suffix}");
        }
        let mut mantissa = self.nanos;
        let mut exponent: i32 = -9;
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        // Go lowers the exponent to a multiple of three (AsCanonicalBytes).
        let remainder = exponent.rem_euclid(3);
        mantissa *= 10_i128.pow(remainder.unsigned_abs());
        exponent -= remainder;
        if format == Format::DecimalExponent {
            return if exponent == 0 {
                write!(f, "{mantissa}")
            } else {
                write!(f, "{mantissa}e{exponent}")
            };
        }
        let suffix = match exponent {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => {
                // The cap keeps values below 10^19 units, so only E remains.
                mantissa *= 10_i128.pow((exponent - 18).unsigned_abs());
                "E"
            }
        };
        write!(f, "{mantissa}{suffix}")
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// CPU in millicores, rounded up to the milli as Kubernetes does (`MilliValue`); negative is an error.
pub fn cpu_millis(text: &str) -> Result<i64, QuantityError> {
    let amount = parse(text)?;
    if amount.nanos < 0 {
        return Err(error(text, "cpu cannot be negative"));
    }
    Ok(amount.scaled_ceil(3))
}

/// Memory in bytes, rounded up to the byte (`Value`); negative is an error.
pub fn memory_bytes(text: &str) -> Result<i64, QuantityError> {
    let amount = parse(text)?;
    if amount.nanos < 0 {
        return Err(error(text, "memory cannot be negative"));
    }
    Ok(amount.scaled_ceil(0))
}

/// Canonical CPU text as the API server stores it: `250m`, `2`, `1500m`.
pub fn format_cpu_millis(millis: i64) -> String {
    Amount::from_nanos(i128::from(millis) * 1_000_000, Format::DecimalSi).to_string()
}

/// Canonical memory text: a binary unit when the value is a whole number of KiB (`512Mi`,
/// `1536Mi`, `1Gi`), otherwise decimal (`1M`, `123456789`). The server keeps the format we send,
/// so a re-read yields the same string.
pub fn format_memory_bytes(bytes: i64) -> String {
    let format = if bytes != 0 && bytes % 1024 == 0 {
        Format::BinarySi
    } else {
        Format::DecimalSi
    };
    Amount::from_nanos(i128::from(bytes) * NANOS_PER_UNIT, format).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canonical(text: &str) -> String {
        Amount::parse(text).expect(text).to_string()
    }

    #[test]
    fn cpu_texts_read_as_millicores() {
        for (text, millis) in [
            ("100m", 100),
            ("1", 1000),
            ("1.5", 1500),
            ("0.1", 100),
            ("+1", 1000),
            (".5", 500),
            ("1e3", 1_000_000),
            ("1E3", 1_000_000),
            ("1k", 1_000_000),
            ("500n", 1),
            ("2u", 1),
            ("0", 0),
            ("1.", 1000),
            ("0.0001", 1),
            ("1e-3", 1),
            ("250m", 250),
        ] {
            assert_eq!(cpu_millis(text), Ok(millis), "{text}");
        }
    }

    #[test]
    fn memory_texts_read_as_bytes() {
        for (text, bytes) in [
            ("128Mi", 128 << 20),
            ("1Gi", 1 << 30),
            ("1M", 1_000_000),
            ("1.5Gi", 3 << 29),
            ("0.5Ki", 512),
            ("100m", 1),
            ("1E", 1_000_000_000_000_000_000),
            ("8Ei", i64::MAX),
            ("1e30", i64::MAX),
            ("123456789", 123_456_789),
        ] {
            assert_eq!(memory_bytes(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn bad_texts_are_errors_naming_the_text() {
        for text in [
            "", "12Q", "1.2.3", "abc", "1e", "1Kii", "Mi", "-", "+", ".", "1 ", " 1", "1ki",
            "1e3.5",
        ] {
            let err = Amount::parse(text).expect_err(text);
            assert!(
                err.to_string()
                    .starts_with(&format!("{text:?} is not a Kubernetes quantity")),
                "{err}"
            );
        }
        assert_eq!(
            Amount::parse("12Q").expect_err("12Q").to_string(),
            "\"12Q\" is not a Kubernetes quantity: unknown suffix \"Q\" (allowed: n u m k M G T P E Ki Mi Gi Ti Pi Ei, e<exponent>)"
        );
        assert!(cpu_millis("-1").is_err());
        assert!(memory_bytes("-1Mi").is_err());
    }

    #[test]
    fn canonical_form_matches_the_api_server() {
        for (text, expected) in [
            ("1.5", "1500m"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("1000M", "1G"),
            ("2000m", "2"),
            ("0.1", "100m"),
            ("1073741824", "1073741824"),
            ("0.5Gi", "512Mi"),
            ("1e3", "1e3"),
            ("1500e0", "1500"),
            ("15e2", "1500"),
            ("1E3", "1e3"),
            ("0.5Ki", "512"),
            ("1.1Ki", "1126400m"),
            ("-1.5", "-1500m"),
            ("0Mi", "0"),
            ("+1", "1"),
            ("0.0000000001", "1n"),
            ("12e-4", "1200e-6"),
        ] {
            assert_eq!(canonical(text), expected, "{text}");
        }
    }

    #[test]
    fn typed_formatting_is_canonical_and_stable() {
        assert_eq!(format_cpu_millis(250), "250m");
        assert_eq!(format_cpu_millis(2000), "2");
        assert_eq!(format_cpu_millis(1500), "1500m");
        assert_eq!(format_cpu_millis(0), "0");
        assert_eq!(format_memory_bytes(512 << 20), "512Mi");
        assert_eq!(format_memory_bytes(1 << 30), "1Gi");
        assert_eq!(format_memory_bytes(1_000_000), "1M");
        assert_eq!(format_memory_bytes(123_456_789), "123456789");
        assert_eq!(format_memory_bytes(1536 << 20), "1536Mi");
        for text in ["250m", "2", "512Mi", "1M", "123456789"] {
            assert_eq!(canonical(text), text);
        }
    }

    proptest! {
        #[test]
        fn cpu_format_then_parse_gives_the_same_value(millis in 0_i64..=i64::MAX / 1_000_000) {
            let text = format_cpu_millis(millis);
            prop_assert_eq!(cpu_millis(&text), Ok(millis));
            prop_assert_eq!(canonical(&text), text);
        }

        #[test]
        fn memory_format_then_parse_gives_the_same_value(bytes in 0_i64..=i64::MAX) {
            let text = format_memory_bytes(bytes);
            prop_assert_eq!(memory_bytes(&text), Ok(bytes));
            prop_assert_eq!(canonical(&text), text);
        }

        #[test]
        fn any_amount_round_trips_through_its_canonical_text(
            nanos in -MAX_NANOS..=MAX_NANOS,
            format in prop_oneof![Just(Format::DecimalSi), Just(Format::BinarySi), Just(Format::DecimalExponent)],
        ) {
            let amount = Amount::from_nanos(nanos, format);
            let reparsed = Amount::parse(&amount.to_string()).expect("canonical text parses");
            prop_assert_eq!(reparsed.nanos(), nanos);
        }

        #[test]
        fn parsing_never_panics(text in "[-+]?[0-9.]{0,25}[eEinumkKMGTP]{0,2}[-+]?[0-9]{0,4}") {
            let _ = Amount::parse(&text);
        }
    }
}
