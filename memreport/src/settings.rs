//! Pieces both binaries' configurations share: durations written as whole
//! milliseconds or seconds, [`Secret`] for passwords, and
//! [`overrides!`](crate::overrides), which declares the flags that replace
//! a file's settings.
//!
//! Durations are typed ([`Duration`]) inside the programs, but the names
//! users write keep their unit (`node_ms`, `--node-timeout-ms`), so the
//! conversion happens once, here, when a value is read.

use std::time::Duration;

use serde::Deserialize;

/// Whole milliseconds: `#[serde(deserialize_with = "millis::deserialize")]`
/// on a [`Duration`] field, `value_parser = millis::parse` on a flag.
pub mod millis {
    use super::{Deserialize, Duration};
    use serde::Deserializer;

    /// Reads a non-negative integer number of milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }

    /// Parses a non-negative integer number of milliseconds.
    pub fn parse(text: &str) -> Result<Duration, std::num::ParseIntError> {
        text.parse().map(Duration::from_millis)
    }
}

/// Whole seconds, as [`millis`] is for milliseconds.
pub mod secs {
    use super::{Deserialize, Duration};
    use serde::Deserializer;

    /// Reads a non-negative integer number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }

    /// Parses a non-negative integer number of seconds.
    pub fn parse(text: &str) -> Result<Duration, std::num::ParseIntError> {
        text.parse().map(Duration::from_secs)
    }
}

/// A password or other credential from the configuration: shown as
/// `"<redacted>"` by `Debug`, so a logged configuration never carries it.
/// Read from a TOML string or a flag's text as it is.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(text))
    }
}

/// Declares a struct of optional settings, each naming the field of a
/// configuration it replaces, and its `apply(self, &mut Config)`, which
/// writes every setting that is `Some` and leaves the rest alone.
///
/// The settings carry no defaults: the configuration's own `Default` is
/// the one source. Attributes pass through, so with `#[derive(clap::Args)]`
/// the fields are flags; a field's type is the flag's value type (the
/// struct holds `Option` of it) and may also go into an `Option` field.
///
/// ```
/// #[derive(Debug, Default, PartialEq)]
/// struct Config { port: u16, limits: Limits, name: Option<String> }
/// #[derive(Debug, Default, PartialEq)]
/// struct Limits { max_bytes: usize }
///
/// memreport::overrides! {
///     /// What the command line gave.
///     #[derive(Debug, Default)]
///     pub struct Overrides for Config {
///         /// The port.
///         port: u16 => port,
///         /// The size limit.
///         max_bytes: usize => limits.max_bytes,
///         /// The name.
///         name: String => name,
///     }
/// }
///
/// let mut config = Config { port: 80, ..Config::default() };
/// Overrides { max_bytes: Some(9), name: Some("a".into()), ..Overrides::default() }
///     .apply(&mut config);
/// assert_eq!(config.port, 80);
/// assert_eq!(config.limits.max_bytes, 9);
/// assert_eq!(config.name.as_deref(), Some("a"));
/// ```
#[macro_export]
macro_rules! overrides {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident for $config:ty {
            $(
                $(#[$attr:meta])*
                $flag:ident: $ty:ty => $($field:ident).+
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$attr])* pub $flag: Option<$ty>, )*
        }

        impl $name {
            /// Writes each setting that was given into `config`; the rest
            /// keep the values they have.
            $vis fn apply(self, config: &mut $config) {
                $(
                    if let Some(value) = self.$flag {
                        $crate::settings::replace(&mut config.$($field).+, value);
                    }
                )*
            }
        }
    };
}

/// `*field = value`, converting `T` into `Option<T>` where the field is optional.
#[doc(hidden)]
pub fn replace<T, F: From<T>>(field: &mut F, value: T) {
    *field = F::from(value);
}

/// A TOML parse error in words, without the text of the file: toml's own
/// message quotes the offending line, which may hold a secret. Names the
/// line and column; for a line that sets one of `secret_keys`, says only
/// that its value is invalid, since the message may quote the value too.
pub fn toml_error(
    text: &str,
    message: &str,
    span: Option<std::ops::Range<usize>>,
    secret_keys: &[&str],
) -> String {
    let Some(span) = span else {
        return message.to_string();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = start - line_start + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next().unwrap_or("").trim();
    if secret_keys.contains(&key) {
        return format!(
            "line {line_no}: the value of {key} is invalid (not shown: it is a secret)"
        );
    }
    format!("line {line_no}, column {column}: {}", message.trim())
}

#[cfg(test)]
mod tests {
    use super::{Secret, toml_error};

    #[test]
    fn a_secret_is_not_shown() {
        let secret: Secret = "hunter2".parse().unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        #[derive(serde::Deserialize)]
        struct File {
            password: Secret,
        }
        let file: File = serde_json::from_str(r#"{"password": "p w"}"#).unwrap();
        assert_eq!(file.password, Secret::new("p w"));
    }

    #[test]
    fn a_toml_error_never_shows_a_secret_line() {
        let text = "listen = \"x\"\nredis_password = 12345678\n";
        let at = text.find("12345678").unwrap();
        let said = toml_error(
            text,
            "invalid type: integer `12345678`",
            Some(at..at + 8),
            &["redis_password"],
        );
        assert!(!said.contains("12345678"), "{said}");
        assert!(
            said.contains("line 2") && said.contains("redis_password"),
            "{said}"
        );
        let said = toml_error(text, "expected a string", Some(9..12), &["redis_password"]);
        assert_eq!(said, "line 1, column 10: expected a string");
    }
}
