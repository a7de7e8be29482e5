//! Query strings of the list routes, read parameter by parameter so that every bad value gets a
//! `400 invalid_query` (or `invalid_cursor`) naming the parameter and showing what a good value
//! looks like, and so that nothing that passes can make PostgreSQL fail: no NUL bytes in text,
//! no timestamp outside the years PostgreSQL stores, no limit it cannot use.
//!
//! A handler takes [`Params`], reads what it accepts, then calls [`Params::finish`], which refuses
//! any parameter it did not read.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use certctl_shared::repo::{DEFAULT_PAGE, MAX_PAGE, TimeCursor};
use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::error::ApiError;

/// The longest text value accepted in a filter.
pub const MAX_TEXT: usize = 256;

/// The parameters of one request, each name at most once.
#[derive(Debug)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Params::parse(parts.uri.query().unwrap_or(""))
    }
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", detail)
}

impl Params {
    /// Splits a raw query string. A name given twice is refused: which one would win is a guess.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut values = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            if name.is_empty() {
                continue;
            }
            if values.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(invalid(format!("`{name}` is given more than once")));
            }
        }
        Ok(Self { values })
    }

    /// A text filter: at most [`MAX_TEXT`] characters, no control characters. Empty means unset.
    pub fn text(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let Some(v) = self.values.remove(name) else {
            return Ok(None);
        };
        if v.is_empty() {
            return Ok(None);
        }
        if v.chars().count() > MAX_TEXT || v.chars().any(char::is_control) {
            return Err(invalid(format!(
                "{name} must be at most {MAX_TEXT} characters with no control characters"
            )));
        }
        Ok(Some(v))
    }

    /// A value with a type of its own (an id, a time, a word from a set, a number, a cursor): as
    /// [`Params::text`], but an empty value is refused rather than read as unset, since the API
    /// description says what the value must look like and empty is not it.
    fn typed(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        if self.values.get(name).is_some_and(String::is_empty) {
            return Err(invalid(format!("{name} must not be empty; leave it out instead")));
        }
        self.text(name)
    }

    /// `cursor` as given; an empty one is not a cursor this API issued.
    fn cursor_text(&mut self) -> Result<Option<String>, ApiError> {
        if self.values.get("cursor").is_some_and(String::is_empty) {
            return Err(bad_cursor());
        }
        self.text("cursor")
    }

    /// A UUID, as whichever id type the parameter names.
    pub fn uuid<T: From<Uuid>>(&mut self, name: &str) -> Result<Option<T>, ApiError> {
        self.typed(name)?
            .map(|v| {
                v.parse::<Uuid>().map(T::from).map_err(|_| {
                    invalid(format!(
                        "{name} must be a UUID such as 0191e7a4-5b7c-7d2e-9f10-123456789abc"
                    ))
                })
            })
            .transpose()
    }

    /// An RFC 3339 timestamp within the years 1 to 9999.
    pub fn time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let bad = || {
            invalid(format!(
                "{name} must be an RFC 3339 timestamp such as 2026-12-31T00:00:00Z"
            ))
        };
        let Some(v) = self.typed(name)? else {
            return Ok(None);
        };
        let t = DateTime::parse_from_rfc3339(&v).map_err(|_| bad())?.with_timezone(&Utc);
        if !(1..=9999).contains(&t.year()) {
            return Err(invalid(format!("{name} must fall within the years 1 to 9999")));
        }
        Ok(Some(t))
    }

    /// A certificate serial number in hex, as stored (lowercase, no separators), read from any of
    /// the ways tools print it: either case, with or without `:` between bytes, with or without
    /// leading zeros. At most 20 octets (RFC 5280 §4.1.2.2).
    pub fn serial(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let Some(v) = self.typed(name)? else {
            return Ok(None);
        };
        let digits: String = v.chars().filter(|&c| c != ':').collect::<String>().to_ascii_lowercase();
        if v.len() > 59 || digits.is_empty() || digits.len() > 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "{name} must be a serial number in hex (at most 40 digits, `:` between bytes allowed)"
            )));
        }
        Ok(Some(digits))
    }

    /// One of a fixed set of words, read by `parse`; `allowed` is listed in the error.
    pub fn one_of<T>(
        &mut self,
        name: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        self.typed(name)?
            .map(|v| {
                parse(&v).ok_or_else(|| invalid(format!("{name} must be one of {} (got `{v}`)", allowed.join(", "))))
            })
            .transpose()
    }

    /// One or more words of a fixed set, comma-separated (`status=active,expiring`), each read by
    /// `parse`; empty when the parameter is absent. A repeated word counts once.
    pub fn many_of<T: PartialEq>(
        &mut self,
        name: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, ApiError> {
        let Some(v) = self.typed(name)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for word in v.split(',') {
            let t = parse(word).ok_or_else(|| {
                invalid(format!(
                    "{name} must be one or more of {}, comma-separated (got `{word}`)",
                    allowed.join(", ")
                ))
            })?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// `limit`: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
    pub fn limit(&mut self) -> Result<u64, ApiError> {
        let Some(v) = self.typed("limit")? else {
            return Ok(DEFAULT_PAGE);
        };
        match v.parse::<u64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(invalid(format!("limit must be a whole number from 1 to {MAX_PAGE}"))),
        }
    }

    /// `cursor` of a newest-first listing, as this API issued it in `next_cursor`.
    pub fn time_cursor(&mut self) -> Result<Option<TimeCursor>, ApiError> {
        self.cursor_text()?
            .map(|c| TimeCursor::decode(&c).ok_or_else(bad_cursor))
            .transpose()
    }

    /// `cursor` of an oldest-first listing by time-ordered id: the last id of the page before.
    pub fn id_cursor<T: std::str::FromStr>(&mut self) -> Result<Option<T>, ApiError> {
        self.cursor_text()?
            .map(|c| c.parse::<T>().map_err(|_| bad_cursor()))
            .transpose()
    }

    /// `cursor` of the audit log: the sequence number this API issued in `next_cursor`.
    pub fn seq_cursor(&mut self) -> Result<Option<i64>, ApiError> {
        self.cursor_text()?
            .map(|c| c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(bad_cursor))
            .transpose()
    }

    /// Refuses any parameter the handler did not read.
    pub fn finish(self, accepted: &[&str]) -> Result<(), ApiError> {
        match self.values.keys().next() {
            None => Ok(()),
            Some(unknown) => Err(invalid(format!(
                "unknown query parameter `{unknown}`; this route accepts {}",
                accepted.join(", ")
            ))),
        }
    }
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        "cursor is not one this API issued: pass the next_cursor of the previous page unchanged",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: ApiError) -> (&'static str, String) {
        (e.code(), e.to_string())
    }

    #[test]
    fn values_are_read_once_and_unknown_names_refused() {
        let mut p = Params::parse("status=active&limit=10&x=1").unwrap();
        assert_eq!(p.text("status").unwrap().as_deref(), Some("active"));
        assert_eq!(p.limit().unwrap(), 10);
        let (c, m) = code(p.finish(&["status", "limit"]).unwrap_err());
        assert_eq!(c, "invalid_query");
        assert!(m.contains("`x`"), "{m}");
        assert_eq!(code(Params::parse("a=1&a=2").unwrap_err()).0, "invalid_query");
    }

    #[test]
    fn several_words_are_comma_separated_each_from_the_set_and_counted_once() {
        let words = ["a", "b", "c"];
        let pick = |s: &str| words.contains(&s).then(|| s.to_owned());
        let read = |query: &str| Params::parse(query).unwrap().many_of("w", &words, pick);
        assert_eq!(read("w=b,a,b").unwrap(), ["b", "a"]);
        assert_eq!(read("x=1").unwrap(), Vec::<String>::new());
        for bad in ["w=", "w=a,", "w=,a", "w=a%2C%20b", "w=a,d"] {
            let (c, m) = code(read(bad).unwrap_err());
            assert_eq!(c, "invalid_query", "{bad}");
            assert!(m.starts_with("w must"), "{bad}: {m}");
        }
    }

    #[test]
    fn timestamps_postgres_cannot_store_are_refused_with_an_example() {
        for raw in [
            "2026-13-01T00:00:00Z",
            "yesterday",
            "+200000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
        ] {
            let mut p = Params::parse(&format!("expiring_before={}", urlencode(raw))).unwrap();
            let (c, m) = code(p.time("expiring_before").unwrap_err());
            assert_eq!(c, "invalid_query", "{raw}");
            assert!(m.starts_with("expiring_before must"), "{m}");
        }
        let mut p = Params::parse("t=2026-12-31T00:00:00%2B01:00").unwrap();
        assert_eq!(p.time("t").unwrap().unwrap().to_rfc3339(), "2026-12-30T23:00:00+00:00");
    }

    #[test]
    fn serials_are_read_as_tools_print_them() {
        let serial = |raw: &str| {
            Params::parse(&format!("serial={}", urlencode(raw)))
                .unwrap()
                .serial("serial")
        };
        assert_eq!(serial("0A:1B:FF").unwrap().as_deref(), Some("0a1bff"));
        assert_eq!(serial("00c0ffee").unwrap().as_deref(), Some("00c0ffee"));
        for bad in ["", ":", "xyz", "0x1f", &"a".repeat(41), &":a".repeat(30)] {
            let e = serial(bad).unwrap_err();
            assert_eq!(code(e).0, "invalid_query", "{bad}");
        }
    }

    #[test]
    fn control_characters_and_bad_limits_are_refused() {
        assert!(Params::parse("cn=a%00b").unwrap().text("cn").is_err());
        assert!(
            Params::parse(&format!("cn={}", "a".repeat(MAX_TEXT + 1)))
                .unwrap()
                .text("cn")
                .is_err()
        );
        for bad in ["0", "-1", "501", "1e3", "99999999999999999999999"] {
            assert!(
                Params::parse(&format!("limit={bad}")).unwrap().limit().is_err(),
                "{bad}"
            );
        }
        assert_eq!(Params::parse("").unwrap().limit().unwrap(), DEFAULT_PAGE);
    }

    #[test]
    fn cursors_are_refused_unless_this_api_could_have_issued_them() {
        for bad in [
            "garbage",
            "",
            "MTIzfA",
            "OTk5OTk5OTk5OTk5OTk5OTk5fDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA",
        ] {
            let r = Params::parse(&format!("cursor={bad}")).unwrap().time_cursor();
            assert!(matches!(r, Err(ApiError::BadRequest("invalid_cursor", _))), "{bad}");
        }
        for bad in ["-5", "0", "x", "99999999999999999999"] {
            let r = Params::parse(&format!("cursor={bad}")).unwrap().seq_cursor();
            assert!(matches!(r, Err(ApiError::BadRequest("invalid_cursor", _))), "{bad}");
        }
    }

    fn urlencode(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }
}
