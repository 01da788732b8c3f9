//! Network partitions between one balancer and a port (a data node,
//! ZooKeeper): each balancer runs in a cgroup v2 group of its own, and an
//! iptables rule in OUTPUT drops that group's TCP traffic to the port
//! (`-m cgroup --path <group>`). Sockets take their cgroup when they are
//! created, so the balancer is put in its group *before* it starts
//! ([`Partitions::wrap`] runs it through `sh`, which joins the group and
//! execs it).
//!
//! [`Partitions::detect`] finds the cgroup v2 mount in /proc/mounts and
//! checks that a group can be made and a rule added and removed; without
//! that it fails loudly rather than running without partitions. Every
//! group and rule is named after the run (`dlb-chaos-<run>-<balancer>`),
//! removed on heal and on drop, so nothing else's is ever touched.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The partitions of one run.
#[derive(Debug)]
pub(crate) struct Partitions {
    root: PathBuf,
    run_id: String,
    groups: Vec<String>,
    /// Active rules: (group, port).
    rules: Vec<(String, u16)>,
}

impl Partitions {
    /// Finds cgroup v2 and checks that iptables can match on it.
    pub(crate) fn detect(run_id: &str) -> Result<Partitions> {
        let mounts = std::fs::read_to_string("/proc/mounts").context("read /proc/mounts")?;
        let root = cgroup2_mount(&mounts).context(
            "no cgroup v2 mount in /proc/mounts: partitions need cgroup v2 \
             (run with --faults without partition-node,partition-zk to go without)",
        )?;
        let mut partitions = Partitions {
            root,
            run_id: run_id.to_string(),
            groups: Vec::new(),
            rules: Vec::new(),
        };
        let probe = partitions.group("probe")?;
        partitions
            .drop_port(&probe, 9)
            .context("iptables cannot drop by cgroup (need root and the xt_cgroup match)")?;
        partitions.heal_port(&probe, 9)?;
        Ok(partitions)
    }

    /// Makes the group for `member` (e.g. `b1`) and returns its name.
    pub(crate) fn group(&mut self, member: &str) -> Result<String> {
        let name = format!("dlb-chaos-{}-{member}", self.run_id);
        let dir = self.root.join(&name);
        if !dir.exists() {
            std::fs::create_dir(&dir)
                .with_context(|| format!("create cgroup {}", dir.display()))?;
        }
        if !self.groups.contains(&name) {
            self.groups.push(name.clone());
        }
        Ok(name)
    }

    /// `program args` wrapped so that it joins `group` before it starts.
    pub(crate) fn wrap(&self, group: &str, program: &str, args: &[String]) -> Vec<String> {
        let procs = self.root.join(group).join("cgroup.procs");
        let mut wrapped = vec![
            "-c".to_string(),
            format!("echo $$ > '{}' && exec \"$0\" \"$@\"", procs.display()),
            program.to_string(),
        ];
        wrapped.extend(args.iter().cloned());
        wrapped
    }

    /// Drops `group`'s TCP traffic to 127.0.0.1:`port`.
    pub(crate) fn drop_port(&mut self, group: &str, port: u16) -> Result<()> {
        iptables("-A", group, port)?;
        self.rules.push((group.to_string(), port));
        Ok(())
    }

    /// Removes that rule.
    pub(crate) fn heal_port(&mut self, group: &str, port: u16) -> Result<()> {
        self.rules.retain(|(g, p)| !(g == group && *p == port));
        iptables("-D", group, port)
    }

    /// Removes every rule this run added.
    pub(crate) fn heal_all(&mut self) {
        for (group, port) in std::mem::take(&mut self.rules) {
            let _ = iptables("-D", &group, port);
        }
    }
}

impl Drop for Partitions {
    fn drop(&mut self) {
        self.heal_all();
        // Groups still holding a process (it is being killed) are removed
        // by scripts/chaos's trap.
        for group in &self.groups {
            let _ = std::fs::remove_dir(self.root.join(group));
        }
    }
}

/// `iptables ACTION OUTPUT -m cgroup --path GROUP -p tcp --dport PORT -j DROP`.
fn iptables(action: &str, group: &str, port: u16) -> Result<()> {
    let out = Command::new("iptables")
        .args(["-w", action, "OUTPUT", "-m", "cgroup", "--path", group])
        .args(["-p", "tcp", "-d", "127.0.0.1", "--dport", &port.to_string()])
        .args(["-j", "DROP"])
        .output()
        .context("run iptables")?;
    if !out.status.success() {
        bail!(
            "iptables {action} for {group} port {port}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The mount point of cgroup v2 (`cgroup2` type) in a /proc/mounts text.
fn cgroup2_mount(mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(point))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cgroup2_hybrid_or_unified() {
        let hybrid = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n\
                      cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            cgroup2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"),
            None
        );
    }
}
