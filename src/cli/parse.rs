//! The command line's value parsers: each checks one flag's value, so
//! `clap` reports a bad one as `invalid value 'V' for '--FLAG': why`,
//! naming the flag and the value, before anything runs.

use std::fmt;
use std::fs::OpenOptions;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::LazyLock;

use crate::catalog::Lesson;

/// A whole number in `min..=max`. The error says what was expected; a
/// negative number is named as such.
pub fn whole<T>(
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + fmt::Display + Copy + Send + Sync + 'static,
{
    move |text: &str| {
        let text = text.trim();
        if text.starts_with('-') {
            return Err(format!("{text} is negative: expected {min}..={max}"));
        }
        let value: T = text
            .parse()
            .map_err(|_| format!("`{text}` is not a whole number: expected {min}..={max}"))?;
        if value < min || value > max {
            return Err(format!("{value} is out of range: expected {min}..={max}"));
        }
        Ok(value)
    }
}

/// A number of seconds (or a rate) in `(0, max]`.
pub fn positive(max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let text = text.trim();
        let value: f64 = text.parse().map_err(|_| {
            format!("`{text}` is not a number: expected more than 0, at most {max}")
        })?;
        if !value.is_finite() || value <= 0.0 {
            let sign = if value < 0.0 {
                "negative"
            } else {
                "not more than 0"
            };
            return Err(format!(
                "{text} is {sign}: expected more than 0, at most {max}"
            ));
        }
        if value > max {
            return Err(format!("{text} is too large: expected at most {max}"));
        }
        Ok(value)
    }
}

/// A lesson number on the command line, checked against the catalog; the
/// error lists the lessons there are.
pub fn lesson(text: &str) -> Result<Lesson, String> {
    let listed = || {
        Lesson::ALL
            .iter()
            .map(Lesson::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let number: u32 = text.trim().parse().map_err(|_| {
        format!(
            "`{text}` is not a lesson number; the lessons are {}",
            listed()
        )
    })?;
    Lesson::from_number(number)
        .ok_or_else(|| format!("there is no lesson {number}; the lessons are {}", listed()))
}

/// Every lesson's number, comma-separated, as `--lessons` takes them:
/// the flag's default, shown as it must be typed.
pub fn all_lessons() -> &'static str {
    static ALL: LazyLock<String> = LazyLock::new(|| {
        Lesson::ALL
            .iter()
            .map(|l| l.number().to_string())
            .collect::<Vec<_>>()
            .join(",")
    });
    &ALL
}

/// A number as a `&'static str`, for a default computed from a constant.
pub fn default_of(value: usize) -> &'static str {
    Box::leak(value.to_string().into_boxed_str())
}

/// A queue limit: bytes, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    /// Every lesson with a queue gets this limit, block policy.
    Bytes(usize),
    /// The unbounded queues the lessons are first taught with.
    Unlimited,
}

impl QueueLimit {
    /// The bytes, if bounded.
    pub fn bytes(self) -> Option<usize> {
        match self {
            QueueLimit::Bytes(b) => Some(b),
            QueueLimit::Unlimited => None,
        }
    }
}

/// `--queue-limit`: bytes (at least 1), or `unlimited` (also `0`).
pub fn queue_limit(text: &str) -> Result<QueueLimit, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") || text == "0" {
        return Ok(QueueLimit::Unlimited);
    }
    whole(1, usize::MAX)(text)
        .map(QueueLimit::Bytes)
        .map_err(|e| format!("{e}, or `unlimited`"))
}

/// A `HOST:PORT` address, resolved (`127.0.0.1:7777`, `localhost:7777`).
/// The servers listen on IPv4 loopback by default, so IPv4 addresses come
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// As typed.
    pub text: String,
    /// What it resolved to, IPv4 first (at least one).
    pub addrs: Vec<SocketAddr>,
}

impl Address {
    /// The first address it resolved to.
    pub fn first(&self) -> SocketAddr {
        self.addrs[0]
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Resolves a `HOST:PORT` address.
pub fn address(text: &str) -> Result<Address, String> {
    let expected = "expected HOST:PORT, e.g. 127.0.0.1:7777 or localhost:7777";
    let mut addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{text}`: {e} ({expected})"))?
        .collect();
    addrs.sort_by_key(|a| a.is_ipv6()); // stable: the resolver's order within each family
    if addrs.is_empty() {
        return Err(format!("`{text}` resolves to no address ({expected})"));
    }
    Ok(Address {
        text: text.to_owned(),
        addrs,
    })
}

/// A file the run will write at its end (a chart), checked now: a missing
/// directory or a read-only place fails before anything is measured. A
/// file that did not exist is created and removed again.
pub fn output_file(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if path.is_dir() {
        return Err(format!("{} is a directory, not a file", path.display()));
    }
    let existed = path.exists();
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(&path);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_name_what_is_wrong() {
        let payload = whole(6usize, 65533);
        assert_eq!(payload("32"), Ok(32));
        assert!(
            payload("0")
                .unwrap_err()
                .contains("out of range: expected 6..=65533")
        );
        assert!(payload("-1").unwrap_err().contains("negative"));
        assert!(payload("many").unwrap_err().contains("not a whole number"));
        let seconds = positive(600.0);
        assert_eq!(seconds("0.3"), Ok(0.3));
        assert!(seconds("-1").unwrap_err().contains("negative"));
        assert!(seconds("0").unwrap_err().contains("not more than 0"));
        assert!(seconds("601").unwrap_err().contains("too large"));
    }

    #[test]
    fn lessons_come_from_the_catalog() {
        assert_eq!(lesson("4"), Ok(Lesson::BatchedWriter));
        let error = lesson("99").unwrap_err();
        for l in Lesson::ALL {
            assert!(error.contains(&l.to_string()), "{error}");
        }
        let all: Vec<Lesson> = all_lessons()
            .split(',')
            .map(|n| lesson(n).unwrap())
            .collect();
        assert_eq!(all, Lesson::ALL);
    }

    #[test]
    fn queue_limits_and_addresses() {
        assert_eq!(queue_limit("65536"), Ok(QueueLimit::Bytes(65536)));
        assert_eq!(queue_limit("unlimited"), Ok(QueueLimit::Unlimited));
        assert_eq!(queue_limit("0"), Ok(QueueLimit::Unlimited));
        assert!(queue_limit("-5").unwrap_err().contains("unlimited"));
        let local = address("localhost:7777").unwrap();
        assert!(local.first().ip().is_loopback() && local.first().is_ipv4());
        assert_eq!(local.to_string(), "localhost:7777");
        assert!(address("no port").unwrap_err().contains("HOST:PORT"));
    }

    #[test]
    fn an_unwritable_output_file_is_refused_at_once() {
        let error = output_file("/nonexistent/dir/x.svg").unwrap_err();
        assert!(error.contains("/nonexistent/dir/x.svg"), "{error}");
        let dir = std::env::temp_dir();
        assert!(output_file(dir.to_str().unwrap()).is_err());
        let fresh = dir.join(format!("servercore-parse-{}.svg", std::process::id()));
        assert_eq!(output_file(fresh.to_str().unwrap()), Ok(fresh.clone()));
        assert!(!fresh.exists(), "the check leaves no file behind");
    }
}
