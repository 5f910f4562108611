//! RFC 3339 times (as in `trusted_root.json`) and Unix timestamps.

use super::{malformed, Error};
use std::fmt;

/// A point in time: seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub fn from_unix(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt = u64::try_from(self.secs).ok().and_then(|s| {
            der::DateTime::from_unix_duration(core::time::Duration::from_secs(s)).ok()
        });
        match dt {
            Some(d) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minutes(),
                d.seconds()
            ),
            None => write!(f, "@{}", self.secs),
        }
    }
}

fn digits(s: &str, what: &str) -> Result<u32, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!("time: bad {what} {s:?}")));
    }
    s.parse::<u32>()
        .map_err(|_| malformed(format!("time: bad {what} {s:?}")))
}

/// Parses an RFC 3339 time such as `2021-01-12T11:53:27.000Z` or `2024-03-01T00:00:00+01:00`.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, Error> {
    let bad = || malformed(format!("time: not an RFC 3339 time: {s:?}"));
    let (date, rest) = s.split_once(['T', 't']).ok_or_else(bad)?;
    let mut d = date.split('-');
    let (year, month, day) = match (d.next(), d.next(), d.next(), d.next()) {
        (Some(y), Some(m), Some(dd), None) if y.len() == 4 && m.len() == 2 && dd.len() == 2 => {
            (digits(y, "year")?, digits(m, "month")?, digits(dd, "day")?)
        }
        _ => return Err(bad()),
    };
    // Split the offset off: `Z`, `+hh:mm` or `-hh:mm`.
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let pos = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (c, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off
            .get(1..)
            .and_then(|o| o.split_once(':'))
            .ok_or_else(bad)?;
        if oh.len() != 2 || om.len() != 2 {
            return Err(bad());
        }
        let secs = i64::from(digits(oh, "offset")?) * 3600 + i64::from(digits(om, "offset")?) * 60;
        (c, sign * secs)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (clock, None),
    };
    let mut t = hms.split(':');
    let (hour, minute, second) = match (t.next(), t.next(), t.next(), t.next()) {
        (Some(h), Some(m), Some(sec), None) if h.len() == 2 && m.len() == 2 && sec.len() == 2 => (
            digits(h, "hour")?,
            digits(m, "minute")?,
            digits(sec, "second")?,
        ),
        _ => return Err(bad()),
    };
    let nanos = match frac {
        None => 0,
        Some(f) if f.len() <= 9 => digits(f, "fraction")? * 10u32.pow(9 - f.len() as u32),
        Some(_) => return Err(bad()),
    };
    let year = u16::try_from(year).map_err(|_| bad())?;
    let as_u8 = |v: u32| u8::try_from(v).map_err(|_| bad());
    let dt = der::DateTime::new(
        year,
        as_u8(month)?,
        as_u8(day)?,
        as_u8(hour)?,
        as_u8(minute)?,
        as_u8(second)?,
    )
    .map_err(|_| bad())?;
    let secs = i64::try_from(dt.unix_duration().as_secs()).map_err(|_| bad())? - offset_secs;
    Ok(Timestamp { secs, nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_fraction_and_offsets() {
        let t = parse_rfc3339("2021-01-12T11:53:27.000Z").unwrap();
        assert_eq!(
            t,
            Timestamp {
                secs: 1_610_452_407,
                nanos: 0
            }
        );
        let t = parse_rfc3339("2022-12-31T23:59:59.999Z").unwrap();
        assert_eq!(t.nanos, 999_000_000);
        let a = parse_rfc3339("2024-03-01T01:00:00+01:00").unwrap();
        let b = parse_rfc3339("2024-03-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "2024-03-01T00:00:00Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "2021-01-12",
            "2021-13-01T00:00:00Z",
            "2021-01-12T11:53:27",
            "x-y-zT1:2:3Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s}");
        }
    }
}
