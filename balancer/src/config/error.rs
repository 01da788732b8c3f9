//! What is wrong with a configuration that cannot be used: the file, its
//! TOML, a value, or a TLS file it names. The binary prints it and exits 2.

/// A configuration that cannot be used, with what is wrong in words.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this tree: where, and why, without
    /// the file's text ([`memreport::settings::toml_error`]).
    #[error("invalid config file: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A TLS file cannot be used (read when the balancer is built).
    #[error("{setting} {path}: {problem}")]
    Tls {
        /// The setting that names it: `server.tls_cert` or `server.tls_key`.
        setting: &'static str,
        /// The file's path.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
}
