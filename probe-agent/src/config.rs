//! The agent's configuration: a TOML file, overridden by flags or `PROBE_*`
//! environment variables.
//!
//! [`Config`]'s `Default` is the one place the defaults are written; the
//! flags ([`Overrides`]) replace only what they are given, and the
//! `[default: ...]` in their help texts is checked against it by a test.
//! Durations are [`Duration`]s, written in whole milliseconds under names
//! that say so (`interval_ms`, `--interval-ms`).

use std::net::SocketAddr;
use std::time::Duration;

use memreport::NodeSpec;
use memreport::settings::{Secret, millis};
use serde::Deserialize;

use frontdoor::Limits;

/// Everything the agent needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP server. Default `127.0.0.1:8000`.
    pub listen: SocketAddr,
    /// The host name in reports; default: this machine's name.
    pub host: Option<String>,
    /// The local Redis instances to watch, `addr` or `id=addr`; ids must
    /// match the balancer's. Default: none.
    pub nodes: Vec<NodeSpec>,
    /// Sampling interval. Whole milliseconds, key `interval_ms`. Default 1000 ms.
    #[serde(rename = "interval_ms", deserialize_with = "millis::deserialize")]
    pub interval: Duration,
    /// Time limit for one `INFO`. Whole milliseconds, key
    /// `node_timeout_ms`. Default 500 ms.
    #[serde(rename = "node_timeout_ms", deserialize_with = "millis::deserialize")]
    pub node_timeout: Duration,
    /// ZooKeeper ensemble (`host:port[,...]`) to register in; none by default.
    pub zookeeper: Option<String>,
    /// ZooKeeper session timeout: how long the registration outlives the
    /// agent. Whole milliseconds, key `zookeeper_session_ms`. Default 5000 ms.
    #[serde(
        rename = "zookeeper_session_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub zookeeper_session: Duration,
    /// The URL balancers should use to reach this agent; default
    /// `http://<listen>`.
    pub advertise: Option<String>,
    /// Time a client has from a request's first byte to its complete
    /// headers. Whole milliseconds, key `header_read_timeout_ms`. Default 5000 ms.
    #[serde(
        rename = "header_read_timeout_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub header_read_timeout: Duration,
    /// Time a connection may sit with no request in flight and none
    /// begun. Whole milliseconds, key `idle_timeout_ms`. Default 30000 ms.
    #[serde(rename = "idle_timeout_ms", deserialize_with = "millis::deserialize")]
    pub idle_timeout: Duration,
    /// Open HTTP connections at once; more are answered 503 and closed.
    /// Default 64.
    pub max_connections: usize,
    /// Redis ACL user for the watched nodes' `INFO`; none by default
    /// (Redis's `default` user).
    pub redis_username: Option<String>,
    /// Password for the watched nodes (`requirepass`, or the ACL user's);
    /// none by default (no AUTH).
    pub redis_password: Option<Secret>,
    /// ZooKeeper digest credentials, `user:password`, as the balancer's
    /// `zookeeper_auth`: the znodes the agent creates get an ACL for that
    /// identity only. None by default (open ACLs).
    pub zookeeper_auth: Option<Secret>,
}

/// Reports this host's memory and each local Redis's INFO to balancers.
#[derive(Debug, clap::Parser)]
#[command(name = "probe-agent", version)]
pub struct Args {
    /// TOML configuration file (every field optional).
    #[arg(long, env = "PROBE_CONFIG")]
    pub config: Option<String>,
    /// The settings that replace the file's.
    #[command(flatten)]
    pub overrides: Overrides,
}

memreport::overrides! {
    /// The settings given as flags or environment variables, each written
    /// over the file's value by [`Overrides::apply`]. `None` is "not given".
    #[derive(Debug, Default, clap::Args)]
    pub struct Overrides for Config {
        /// Address of the HTTP server [default: 127.0.0.1:8000].
        #[arg(long, env = "PROBE_LISTEN")]
        listen: SocketAddr => listen,
        /// Host name in reports [default: this machine's name].
        #[arg(long, env = "PROBE_HOST")]
        host: String => host,
        /// Redis instances to watch, comma-separated, each host:port or
        /// id=host:port (ids must match the balancer's).
        #[arg(long, env = "PROBE_NODES", value_delimiter = ',')]
        nodes: Vec<NodeSpec> => nodes,
        /// Sampling interval, ms [default: 1000].
        #[arg(long, env = "PROBE_INTERVAL_MS", value_parser = millis::parse)]
        interval_ms: Duration => interval,
        /// Time limit for one INFO, ms [default: 500].
        #[arg(long, env = "PROBE_NODE_TIMEOUT_MS", value_parser = millis::parse)]
        node_timeout_ms: Duration => node_timeout,
        /// ZooKeeper ensemble to register in, host:port[,host:port] [default: none].
        #[arg(long, env = "PROBE_ZOOKEEPER")]
        zookeeper: String => zookeeper,
        /// URL balancers use to reach this agent [default: http://<listen>].
        #[arg(long, env = "PROBE_ADVERTISE")]
        advertise: String => advertise,
        /// Time from a request's first byte to its complete headers, ms [default: 5000].
        #[arg(long, env = "PROBE_HEADER_READ_TIMEOUT_MS", value_parser = millis::parse)]
        header_read_timeout_ms: Duration => header_read_timeout,
        /// Time a connection may sit with no request, ms [default: 30000].
        #[arg(long, env = "PROBE_IDLE_TIMEOUT_MS", value_parser = millis::parse)]
        idle_timeout_ms: Duration => idle_timeout,
        /// Open HTTP connections at once [default: 64].
        #[arg(long, env = "PROBE_MAX_CONNECTIONS")]
        max_connections: usize => max_connections,
        /// Redis ACL user for INFO; needs --redis-password [default: none].
        #[arg(long, env = "PROBE_REDIS_USERNAME")]
        redis_username: String => redis_username,
        /// Password for the watched Redis nodes; prefer the environment
        /// variable, which stays off the command line [default: none].
        #[arg(long, env = "PROBE_REDIS_PASSWORD", hide_env_values = true)]
        redis_password: Secret => redis_password,
        /// ZooKeeper digest credentials, user:password; prefer the
        /// environment variable [default: none].
        #[arg(long, env = "PROBE_ZOOKEEPER_AUTH", hide_env_values = true)]
        zookeeper_auth: Secret => zookeeper_auth,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            host: None,
            nodes: Vec::new(),
            interval: Duration::from_millis(1000),
            node_timeout: Duration::from_millis(500),
            zookeeper: None,
            zookeeper_session: Duration::from_millis(5000),
            advertise: None,
            header_read_timeout: Duration::from_millis(5000),
            idle_timeout: Duration::from_millis(30_000),
            max_connections: 64,
            redis_username: None,
            redis_password: None,
            zookeeper_auth: None,
        }
    }
}

impl Config {
    /// Reads and parses a TOML file.
    pub fn from_file(path: &str) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {path}: {e}"))?;
        toml::from_str(&text).map_err(|e| {
            let said = memreport::settings::toml_error(
                &text,
                e.message(),
                e.span(),
                &["redis_password", "zookeeper_auth"],
            );
            format!("invalid config file {path}: {said}")
        })
    }

    /// The configuration to run with: the file's (the defaults without
    /// one), with `overrides` written over it, checked.
    pub fn load(file: Option<&str>, overrides: Overrides) -> Result<Config, String> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Checks what types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("no Redis node to watch: give --nodes or nodes in the file".into());
        }
        for node in &self.nodes {
            memreport::check_host_port(&node.addr).map_err(|e| format!("node address {e}"))?;
        }
        if self.interval.is_zero() {
            return Err("interval_ms must be positive".into());
        }
        if self.node_timeout.is_zero() {
            return Err("node_timeout_ms must be positive".into());
        }
        if self.header_read_timeout.is_zero() || self.idle_timeout.is_zero() {
            return Err("header_read_timeout_ms and idle_timeout_ms must be positive".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections must be positive".into());
        }
        if self.redis_username.is_some() && self.redis_password.is_none() {
            return Err("redis_username needs redis_password".into());
        }
        if let Some(problem) = (self.zookeeper_auth.as_ref())
            .and_then(|auth| coordination::session::auth_problem(auth.expose()))
        {
            return Err(problem);
        }
        if let Some(url) = &self.advertise {
            // Balancers poll what is registered as it is: a bare host:port
            // would be registered and then never reached.
            let rest = url.strip_prefix("http://").ok_or_else(|| {
                format!("advertise {url:?} must be an http:// URL, e.g. http://host1:8000")
            })?;
            memreport::check_host_port(rest.trim_end_matches('/'))
                .map_err(|e| format!("advertise {url:?}: {e}"))?;
        }
        Ok(())
    }

    /// ZooKeeper settings, when configured.
    pub fn zookeeper(&self) -> Option<coordination::session::ZkConfig> {
        let address = self.zookeeper.clone()?;
        Some(coordination::session::ZkConfig {
            address,
            session_timeout: self.zookeeper_session,
            auth: self.zookeeper_auth.clone(),
        })
    }

    /// The HTTP server's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }

    /// The URL to register.
    pub fn advertised_url(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    /// Parses `args` as the binary would, with the environment ignored.
    fn parse(args: &[&str]) -> Overrides {
        let command = Args::command().mut_args(|a| a.env(None::<&str>));
        let matches = command
            .try_get_matches_from(std::iter::once("probe-agent").chain(args.iter().copied()))
            .unwrap();
        Args::from_arg_matches(&matches).unwrap().overrides
    }

    #[test]
    fn help_defaults_are_the_config_defaults() {
        // Texts that describe what an unset value means instead of a value.
        const DESCRIBED: [&str; 3] = ["this machine's name", "none", "http://<listen>"];
        let mut checked = 0;
        for arg in Args::command().get_arguments() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let Some((_, rest)) = help.split_once("[default: ") else {
                continue; // --config, and --nodes, which has none
            };
            let default = rest.split_once(']').map_or(rest, |(d, _)| d);
            if DESCRIBED.contains(&default) {
                continue;
            }
            let long = format!("--{}", arg.get_long().unwrap());
            let mut config = Config::default();
            parse(&[&long, default]).apply(&mut config);
            assert_eq!(
                config,
                Config::default(),
                "{long} says [default: {default}]"
            );
            checked += 1;
        }
        assert_eq!(checked, 6);
    }

    #[test]
    fn flags_replace_only_what_they_give_and_load_checks() {
        let mut config: Config = toml::from_str("interval_ms = 200\nnode_timeout_ms = 90").unwrap();
        assert_eq!(config.interval, Duration::from_millis(200));
        parse(&["--node-timeout-ms", "70", "--host", "h"]).apply(&mut config);
        assert_eq!(config.node_timeout, Duration::from_millis(70));
        assert_eq!(config.interval, Duration::from_millis(200));
        assert_eq!(config.host.as_deref(), Some("h"));

        let overrides = Overrides {
            nodes: Some(vec![NodeSpec::from_addr("127.0.0.1:6379".into())]),
            interval_ms: Some(Duration::ZERO),
            ..Overrides::default()
        };
        let err = Config::load(None, overrides).unwrap_err();
        assert!(err.contains("interval_ms must be positive"), "{err}");
    }

    #[test]
    fn credentials_are_checked_and_not_shown() {
        let mut config = Config {
            nodes: vec![NodeSpec::from_addr("127.0.0.1:6379".into())],
            redis_username: Some("probe".into()),
            ..Config::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("needs redis_password")
        );
        parse(&["--redis-password", "s3cret", "--zookeeper-auth", "dlb"]).apply(&mut config);
        assert!(config.validate().unwrap_err().contains("user:password"));
        config.zookeeper_auth = Some(Secret::new("dlb:s3cret"));
        assert_eq!(config.validate(), Ok(()));
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn an_advertised_url_must_be_http_host_port() {
        let with = |advertise: &str| Config {
            nodes: vec![NodeSpec::from_addr("127.0.0.1:6379".into())],
            advertise: Some(advertise.into()),
            ..Config::default()
        };
        assert_eq!(with("http://host1:8000").validate(), Ok(()));
        assert_eq!(with("http://host1:8000/").validate(), Ok(()));
        let bare = with("host1:8000").validate().unwrap_err();
        assert!(bare.contains("must be an http:// URL"), "{bare}");
        assert!(with("http://host1").validate().is_err());
    }
}
