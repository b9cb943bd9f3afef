//! Numbers for people: the one place the tables of `compare` and `bots`
//! and the charts' tick labels get their number formats from.
//!
//! ```
//! use servercore::human::{si, thousands, tick};
//! assert_eq!(thousands(1_234_567.8), "1,234,568");
//! assert_eq!(si(1_234_567.8), "1.23M");
//! assert_eq!(tick(25_000_000.0), "25M");
//! assert_eq!(tick(0.0005), "0.0005");
//! ```

use indicatif::HumanCount;

/// Rounded to a whole number, with thousands separators: 1234567.8 → "1,234,568".
pub fn thousands(x: f64) -> String {
    if x.is_finite() && x >= 0.0 {
        HumanCount(x.round() as u64).to_string()
    } else {
        format!("{x:.0}")
    }
}

/// Three significant figures and an SI suffix: 1234567.8 → "1.23M",
/// 81234.0 → "81.2k", 512.0 → "512".
pub fn si(x: f64) -> String {
    match x.abs() {
        a if a >= 1e9 => format!("{:.2}G", x / 1e9),
        a if a >= 1e6 => format!("{:.2}M", x / 1e6),
        a if a >= 1e3 => format!("{:.1}k", x / 1e3),
        _ => format!("{x:.0}"),
    }
}

/// An axis tick: as short as the value allows, no exponent, no trailing
/// zeros: 1e6 → "1M", 2.5e6 → "2.5M", 500000 → "500k", 0.001 → "0.001".
pub fn tick(x: f64) -> String {
    let (scaled, suffix) = match x.abs() {
        a if a >= 1e9 => (x / 1e9, "G"),
        a if a >= 1e6 => (x / 1e6, "M"),
        a if a >= 1e3 => (x / 1e3, "k"),
        _ => (x, ""),
    };
    // Enough decimals for the first two significant digits, then trimmed.
    let decimals = if scaled == 0.0 {
        0
    } else {
        (1 - scaled.abs().log10().floor() as i32).clamp(0, 8) as usize
    };
    let text = format!("{scaled:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        for (x, shown) in [
            (0.0, "0"),
            (1e6, "1M"),
            (2.5e6, "2.5M"),
            (5e5, "500k"),
            (12e3, "12k"),
            (750.0, "750"),
            (1.0, "1"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (3e9, "3G"),
        ] {
            assert_eq!(tick(x), shown, "{x}");
        }
    }

    #[test]
    fn thousands_and_si() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(si(81_234.0), "81.2k");
        assert_eq!(si(512.0), "512");
        assert_eq!(si(2.5e9), "2.50G");
    }
}
