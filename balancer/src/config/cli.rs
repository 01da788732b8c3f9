//! The command line: flags and `DLB_*` environment variables. Each one,
//! when given, replaces one field of the file's [`Config`]; none has a
//! default of its own. The `[default: ...]` each help text shows for users
//! is checked against [`Config::default`] by a test below.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::{Choices, Config, NodeSpec, Secret, WhenFull, WriteAck, millis};

/// Memory-aware HTTP load balancer for Redis.
///
/// Settings come from the TOML file given with --config, then from the
/// environment variables and flags below, which win over the file.
#[derive(Debug, clap::Parser)]
#[command(name = "balancer", version)]
pub struct Args {
    /// TOML configuration file (every field optional; see README).
    #[arg(long, env = "DLB_CONFIG")]
    pub config: Option<String>,
    /// The settings that replace the file's.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Threads serving requests: 1 runs everything on one thread, the way
    /// Twemproxy does, which is fastest when the balancer shares a small
    /// host with its Redis nodes; 0 means one per core.
    #[arg(long, env = "DLB_WORKER_THREADS", default_value_t = 1)]
    pub worker_threads: usize,
}

memreport::overrides! {
    /// The settings given as flags or environment variables, each written
    /// over the file's value by [`Overrides::apply`]. `None` is "not given".
    #[derive(Debug, Default, clap::Args)]
    pub struct Overrides for Config {
        /// Address for the HTTP API [default: 127.0.0.1:3100].
        #[arg(long, env = "DLB_LISTEN")]
        listen: SocketAddr => listen,
        /// Address for the RESP (Redis protocol) front end [default: none].
        #[arg(long, env = "DLB_RESP_LISTEN")]
        resp_listen: SocketAddr => server.resp_listen,
        /// Index Redis address, host:port [default: 127.0.0.1:5000].
        #[arg(long, env = "DLB_INDEX")]
        index: String => index,
        /// Data nodes, comma-separated, each host:port or id=host:port
        /// [default: 127.0.0.1:5300,127.0.0.1:5400,127.0.0.1:5500,127.0.0.1:5600].
        #[arg(long, env = "DLB_NODES", value_delimiter = ',')]
        nodes: Vec<NodeSpec> => nodes,
        /// Probe agents to follow, comma-separated base URLs (http://host:8000);
        /// nodes they report take their memory figures from them [default: none].
        #[arg(long, env = "DLB_PROBES", value_delimiter = ',')]
        probes: Vec<String> => probes,
        /// ZooKeeper ensemble, host:port[,host:port], for registration, leader
        /// election and probe discovery [default: none; static settings only].
        #[arg(long, env = "DLB_ZOOKEEPER")]
        zookeeper: String => zookeeper,
        /// This balancer's id in ZooKeeper [default: balancer-<host name>-<listen address>].
        #[arg(long, env = "DLB_ID")]
        id: String => id,
        /// Rendezvous candidates per new key: a number, or "all" [default: 2].
        #[arg(long, env = "DLB_PLACEMENT_CHOICES")]
        choices: Choices => placement.choices,
        /// Bounded-load slack over mean utilization [default: 0.25].
        #[arg(long, env = "DLB_LOAD_EPSILON")]
        load_epsilon: f64 => placement.load_epsilon,
        /// Copies of each key on distinct nodes [default: 2].
        #[arg(long, env = "DLB_REPLICATION_FACTOR")]
        replication_factor: NonZeroUsize => replication.factor,
        /// Replicas that must take a write: one, quorum or all [default: quorum].
        #[arg(long, env = "DLB_WRITE_ACK")]
        write_ack: WriteAck => replication.write_ack,
        /// Furthest a write timestamp may be ahead of a clock, ms [default: 1000].
        #[arg(long, env = "DLB_MAX_CLOCK_DRIFT_MS", value_parser = millis::parse)]
        max_clock_drift_ms: Duration => replication.max_clock_drift,
        /// What a full cluster does: refuse (507) or evict, as a cache over
        /// nodes in an allkeys-* policy [default: refuse].
        #[arg(long, env = "DLB_WHEN_FULL")]
        when_full: WhenFull => replication.when_full,
        /// Failed requests or health checks in a row that mark a node down [default: 3].
        #[arg(long, env = "DLB_EJECT_AFTER")]
        eject_after: u32 => failure.eject_after,
        /// Interval of the balancer's own node health checks, ms [default: 500].
        #[arg(long, env = "DLB_HEALTH_INTERVAL_MS", value_parser = millis::parse)]
        health_interval_ms: Duration => failure.health_interval,
        /// Longest key in bytes [default: 1024].
        #[arg(long, env = "DLB_MAX_KEY_BYTES")]
        max_key_bytes: usize => limits.max_key_bytes,
        /// Largest value in bytes of JSON [default: 1048576].
        #[arg(long, env = "DLB_MAX_VALUE_BYTES")]
        max_value_bytes: usize => limits.max_value_bytes,
        /// Time limit for one data-node command, ms [default: 500].
        #[arg(long, env = "DLB_NODE_TIMEOUT_MS", value_parser = millis::parse)]
        node_timeout_ms: Duration => timeouts.node,
        /// Time limit for one index command, ms [default: 200].
        #[arg(long, env = "DLB_INDEX_TIMEOUT_MS", value_parser = millis::parse)]
        index_timeout_ms: Duration => timeouts.index,
        /// Time limit for a whole request, ms [default: 5000].
        #[arg(long, env = "DLB_REQUEST_TIMEOUT_MS", value_parser = millis::parse)]
        request_timeout_ms: Duration => timeouts.request,
        /// Bytes of values the near cache keeps; 0 turns it off [default: 67108864].
        #[arg(long, env = "DLB_NEAR_CACHE_BYTES")]
        near_cache_bytes: usize => near_cache_bytes,
        /// Furthest a near-cache hit may lag a write made through another
        /// balancer, ms; at most half the node timeout [default: 200].
        #[arg(long, env = "DLB_NEAR_CACHE_MAX_LAG_MS", value_parser = millis::parse)]
        near_cache_max_lag_ms: Duration => near_cache_max_lag,
        /// Memory sampling interval, ms [default: 1000].
        #[arg(long, env = "DLB_SAMPLE_INTERVAL_MS", value_parser = millis::parse)]
        sample_interval_ms: Duration => sample_interval,
        /// PEM certificate chain to serve HTTPS with; needs --tls-key
        /// [default: none].
        #[arg(long, env = "DLB_TLS_CERT")]
        tls_cert: PathBuf => server.tls_cert,
        /// PEM private key of --tls-cert; needs --tls-cert [default: none].
        #[arg(long, env = "DLB_TLS_KEY")]
        tls_key: PathBuf => server.tls_key,
        /// Redis ACL user for the index and the data nodes; needs
        /// --redis-password [default: none; the default user].
        #[arg(long, env = "DLB_REDIS_USERNAME")]
        redis_username: String => redis_username,
        /// Password for the index and the data nodes (requirepass or the ACL
        /// user's); prefer the environment variable, which stays off the
        /// command line [default: none].
        #[arg(long, env = "DLB_REDIS_PASSWORD", hide_env_values = true)]
        redis_password: Secret => redis_password,
        /// ZooKeeper digest credentials, user:password; the znodes this
        /// balancer creates get an ACL for that identity only; prefer the
        /// environment variable [default: none; open ACLs].
        #[arg(long, env = "DLB_ZOOKEEPER_AUTH", hide_env_values = true)]
        zookeeper_auth: Secret => zookeeper_auth,
        /// The bearer token the admin API (/admin/...) requires; prefer the
        /// environment variable [default: none; admin routes off].
        #[arg(long, env = "DLB_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Secret => admin_token,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::config::ConfigError;

    /// `[default: ...]` texts that describe what an unset value means
    /// instead of stating a value.
    const DESCRIBED: [&str; 6] = [
        "none",
        "none; static settings only",
        "none; the default user",
        "none; open ACLs",
        "none; admin routes off",
        "balancer-<host name>-<listen address>",
    ];

    /// Parses `args` as the binary would, with the environment ignored.
    fn parse(args: &[&str]) -> Overrides {
        let command = Args::command().mut_args(|a| a.env(None::<&str>));
        let matches = command
            .try_get_matches_from(std::iter::once("balancer").chain(args.iter().copied()))
            .unwrap();
        Args::from_arg_matches(&matches).unwrap().overrides
    }

    #[test]
    fn help_defaults_are_the_config_defaults() {
        let mut checked = 0;
        for arg in Args::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["config", "worker-threads"].contains(&long) {
                continue; // not a Config field
            }
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let default = help
                .split_once("[default: ")
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(default, _)| default)
                .unwrap_or_else(|| panic!("--{long}'s help does not state its default"));
            if DESCRIBED.contains(&default) {
                continue;
            }
            // Giving the stated default must change nothing.
            let mut config = Config::default();
            parse(&[&format!("--{long}"), default]).apply(&mut config);
            assert_eq!(
                config,
                Config::default(),
                "--{long} says [default: {default}]"
            );
            checked += 1;
        }
        assert_eq!(checked, 19);
    }

    #[test]
    fn flags_replace_only_what_they_give() {
        let mut config = Config::from_toml_str("[timeouts]\nindex_ms = 9\nnode_ms = 8").unwrap();
        parse(&["--node-timeout-ms", "70", "--zookeeper", "127.0.0.1:2181"]).apply(&mut config);
        assert_eq!(config.timeouts.node, Duration::from_millis(70));
        assert_eq!(config.timeouts.index, Duration::from_millis(9));
        assert_eq!(config.zookeeper.as_deref(), Some("127.0.0.1:2181"));
        assert_eq!(config.listen, Config::default().listen);
    }

    #[test]
    fn the_tls_flags_name_the_server_files_and_come_as_a_pair() {
        let both = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]);
        let config = Config::load(None, both).unwrap();
        assert_eq!(config.server.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(config.server.tls_key, Some(PathBuf::from("k.pem")));
        let err = Config::load(None, parse(&["--tls-cert", "c.pem"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("server.tls_cert is set without server.tls_key"),
            "{err}"
        );
    }

    #[test]
    fn credentials_come_from_the_environment_unseen() {
        use clap::Parser;
        let args = Args::try_parse_from(["balancer", "--redis-password", "pw"]).unwrap();
        let mut config = Config::default();
        args.overrides.apply(&mut config);
        assert_eq!(config.redis_password, Some(Secret::new("pw")));
        for long in ["redis-password", "zookeeper-auth", "admin-token"] {
            let arg = Args::command()
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .cloned()
                .unwrap();
            assert!(
                arg.is_hide_env_values_set(),
                "--{long} shows its value in --help"
            );
        }
    }

    #[test]
    fn load_applies_the_overrides_then_checks() {
        let overrides = Overrides {
            sample_interval_ms: Some(Duration::from_millis(250)),
            choices: Some(Choices::All),
            ..Overrides::default()
        };
        let config = Config::load(None, overrides).unwrap();
        assert_eq!(config.sample_interval, Duration::from_millis(250));
        assert_eq!(config.placement.choices, Choices::All);

        let zero = Overrides {
            request_timeout_ms: Some(Duration::ZERO),
            ..Overrides::default()
        };
        let err = Config::load(None, zero).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("timeouts.request_ms"), "{err}");
    }
}
