//! The memory limit of another process's cgroup, cgroup v1 or v2.
//!
//! Inside a container a Redis without `maxmemory` is bounded by its
//! cgroup's limit, not by the host's RAM that `INFO` and sysinfo report;
//! the balancer needs that limit as the node's capacity. This module owns
//! finding it: which memory hierarchy the process is in
//! (`/proc/<pid>/cgroup`), where the agent sees that hierarchy mounted (its
//! own `/proc/self/mountinfo`, whose mount root may hide the top of the
//! tree, as inside a container), and the tightest limit from the process's
//! cgroup up to the top the agent can see (a parent's limit binds its
//! children). Parsing is pure and unit-tested; [`memory_limit`] reads the
//! files.

use std::path::{Path, PathBuf};

use memreport::MemoryLimit;

/// Limits at or above this are the kernel's "no limit" in cgroup v1
/// (`PAGE_COUNTER_MAX` pages, about 2^63 bytes).
const V1_UNLIMITED: u64 = 1 << 62;

/// Which cgroup interface a hierarchy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller; the limit is `memory.limit_in_bytes`.
    V1,
    /// The unified hierarchy; the limit is `memory.max`.
    V2,
}

impl Version {
    /// The file that holds a cgroup's memory limit.
    pub fn limit_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.limit_in_bytes",
            Version::V2 => "memory.max",
        }
    }
}

/// Where a process's memory cgroup is, as the agent can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The interface of the hierarchy.
    pub version: Version,
    /// The process's cgroup, as `/proc/<pid>/cgroup` names it.
    pub cgroup: String,
    /// Its ancestors the agent can see, the cgroup itself first, each with
    /// its directory.
    pub chain: Vec<(String, PathBuf)>,
}

/// The memory cgroup of a process from its `/proc/<pid>/cgroup` and the
/// agent's `/proc/self/mountinfo`: the v1 memory controller where the agent
/// has it mounted, else the v2 unified hierarchy.
///
/// # Errors
/// In words, when neither hierarchy names the process or is mounted.
pub fn locate(proc_cgroup: &str, mountinfo: &str) -> Result<Located, String> {
    let mounts = cgroup_mounts(mountinfo);
    let lines = proc_cgroup.lines().filter_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        Some((controllers, path))
    });
    let mut v2_path = None;
    for (controllers, path) in lines {
        if controllers.is_empty() {
            v2_path = Some(path);
        } else if controllers.split(',').any(|c| c == "memory")
            && let Some(mount) = mounts.iter().find(|m| m.version == Version::V1)
        {
            return located(Version::V1, path, mount);
        }
    }
    let path = v2_path.ok_or("no memory cgroup in /proc/<pid>/cgroup")?;
    let mount = mounts
        .iter()
        .find(|m| m.version == Version::V2)
        .ok_or("no cgroup memory hierarchy is mounted where the agent runs")?;
    located(Version::V2, path, mount)
}

/// A memory cgroup mount: v1 with the memory controller, or v2.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    version: Version,
    /// The cgroup shown at the mount point (`/` unless the mount shows a
    /// subtree, as in a container).
    root: String,
    point: PathBuf,
}

/// The memory cgroup mounts in mountinfo text. A line is
/// `ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER`.
fn cgroup_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mount: Vec<&str> = mount.split(' ').collect();
            let fs: Vec<&str> = fs.split(' ').collect();
            let version = match (*fs.first()?, fs.get(2)) {
                ("cgroup2", _) => Version::V2,
                ("cgroup", Some(options)) if options.split(',').any(|o| o == "memory") => {
                    Version::V1
                }
                _ => return None,
            };
            Some(Mount {
                version,
                root: unescape(mount.get(3)?),
                point: PathBuf::from(unescape(mount.get(4)?)),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn located(version: Version, cgroup: &str, mount: &Mount) -> Result<Located, String> {
    let chain: Vec<(String, PathBuf)> = ancestors(cgroup)
        .into_iter()
        .filter_map(|c| Some((c.clone(), directory(mount, &c)?)))
        .collect();
    if chain.is_empty() {
        return Err(format!(
            "the cgroup {cgroup} is outside the part of the hierarchy the agent sees ({})",
            mount.root
        ));
    }
    Ok(Located {
        version,
        cgroup: cgroup.to_string(),
        chain,
    })
}

/// `/a/b` -> `/a/b`, `/a`, `/`.
fn ancestors(cgroup: &str) -> Vec<String> {
    let mut out = vec![cgroup.to_string()];
    let mut path = cgroup.trim_end_matches('/');
    while let Some((parent, _)) = path.rsplit_once('/') {
        out.push(if parent.is_empty() { "/" } else { parent }.to_string());
        path = parent;
    }
    out.dedup();
    out
}

/// The directory of `cgroup` under `mount`; `None` when the mount does not
/// show it.
fn directory(mount: &Mount, cgroup: &str) -> Option<PathBuf> {
    let root = mount.root.trim_end_matches('/');
    let rest = cgroup.strip_prefix(root)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let rest = rest.trim_start_matches('/');
    Some(if rest.is_empty() {
        mount.point.clone()
    } else {
        mount.point.join(rest)
    })
}

/// A limit file's text: `Some(bytes)`, or `None` for no limit.
///
/// # Errors
/// Text that is neither a number nor `max`.
pub fn parse_limit(version: Version, text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if version == Version::V2 && text == "max" {
        return Ok(None);
    }
    let bytes: u64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a memory limit"))?;
    Ok((version == Version::V2 || bytes < V1_UNLIMITED).then_some(bytes))
}

/// The tightest of `limits` (`(cgroup, limit)`, the process's own first).
pub fn tightest(own: &str, limits: &[(String, Option<u64>)]) -> MemoryLimit {
    let bound = limits
        .iter()
        .filter_map(|(cgroup, limit)| Some((cgroup, (*limit)?)))
        .min_by_key(|(_, limit)| *limit);
    match bound {
        Some((cgroup, limit)) => MemoryLimit {
            limit_bytes: Some(limit),
            cgroup: cgroup.clone(),
        },
        None => MemoryLimit {
            limit_bytes: None,
            cgroup: own.to_string(),
        },
    }
}

/// The memory limit of process `pid`'s cgroup, read from `proc` (`/proc`).
///
/// # Errors
/// In words, when the process's cgroup or its limit cannot be read.
pub fn memory_limit(proc: &Path, pid: u32) -> Result<MemoryLimit, String> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let own = read(proc.join(pid.to_string()).join("cgroup"))?;
    let mountinfo = read(proc.join("self/mountinfo"))?;
    let located = locate(&own, &mountinfo)?;
    let mut limits = Vec::with_capacity(located.chain.len());
    for (cgroup, dir) in &located.chain {
        let file = dir.join(located.version.limit_file());
        match std::fs::read_to_string(&file) {
            Ok(text) => limits.push((cgroup.clone(), parse_limit(located.version, &text)?)),
            // The v2 root has no memory.max, nor has a v2 cgroup whose
            // parent does not delegate the memory controller.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        }
    }
    Ok(tightest(&located.cgroup, &limits))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Debian host in hybrid mode (v1 controllers, v2 at `unified`).
    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    /// A Docker container's process on that host.
    const DOCKER_V1: &str = "\
4:memory:/docker/85bd
1:cpu:/docker/85bd
0::/docker/85bd
";

    #[test]
    fn v1_memory_controller_wins_over_the_unified_hierarchy() {
        let l = locate(DOCKER_V1, HYBRID_MOUNTS).unwrap();
        assert_eq!(l.version, Version::V1);
        assert_eq!(l.cgroup, "/docker/85bd");
        let dirs: Vec<_> = l.chain.iter().map(|(_, d)| d.clone()).collect();
        assert_eq!(
            dirs,
            [
                PathBuf::from("/sys/fs/cgroup/memory/docker/85bd"),
                PathBuf::from("/sys/fs/cgroup/memory/docker"),
                PathBuf::from("/sys/fs/cgroup/memory"),
            ]
        );
    }

    #[test]
    fn a_pure_v2_host_uses_the_unified_hierarchy() {
        let mounts = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = locate("0::/system.slice/redis.service\n", mounts).unwrap();
        assert_eq!(l.version, Version::V2);
        assert_eq!(
            l.chain[0].1,
            PathBuf::from("/sys/fs/cgroup/system.slice/redis.service")
        );
        assert_eq!(l.chain.last().unwrap().0, "/");
    }

    #[test]
    fn inside_a_container_the_mount_root_hides_the_top_of_the_tree() {
        // The agent runs in the container: its memory mount shows only
        // the container's own subtree.
        let mounts =
            "700 690 0:32 /docker/85bd /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
        let l = locate(DOCKER_V1, mounts).unwrap();
        assert_eq!(
            l.chain,
            [(
                "/docker/85bd".to_string(),
                PathBuf::from("/sys/fs/cgroup/memory")
            )]
        );
        let err = locate("4:memory:/docker/other\n", mounts).unwrap_err();
        assert!(err.contains("outside"), "{err}");
        // A sibling whose name merely starts the same is outside too.
        assert!(locate("4:memory:/docker/85bdx\n", mounts).is_err());
    }

    #[test]
    fn no_memory_hierarchy_is_said_in_words() {
        let err = locate(
            "0::/\n",
            "35 31 0:32 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
        )
        .unwrap_err();
        assert!(err.contains("mounted"), "{err}");
        assert!(locate("", HYBRID_MOUNTS).is_err());
    }

    #[test]
    fn mount_points_with_spaces_are_unescaped() {
        let mounts = "1 0 0:1 / /cg\\040mem rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup_mounts(mounts)[0].point, PathBuf::from("/cg mem"));
        assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
    }

    #[test]
    fn limits_and_their_no_limit_spellings() {
        assert_eq!(
            parse_limit(Version::V1, "268435456\n"),
            Ok(Some(268_435_456))
        );
        assert_eq!(parse_limit(Version::V1, "9223372036854771712\n"), Ok(None));
        assert_eq!(parse_limit(Version::V2, "max\n"), Ok(None));
        assert_eq!(parse_limit(Version::V2, "1048576\n"), Ok(Some(1 << 20)));
        assert!(parse_limit(Version::V1, "max").is_err());
    }

    #[test]
    fn the_tightest_limit_on_the_path_binds() {
        let limits = [
            ("/a/b".to_string(), None),
            ("/a".to_string(), Some(512)),
            ("/".to_string(), Some(1024)),
        ];
        let limit = tightest("/a/b", &limits);
        assert_eq!(
            (limit.limit_bytes, limit.cgroup.as_str()),
            (Some(512), "/a")
        );
        let unlimited = tightest("/a/b", &[("/a/b".to_string(), None)]);
        assert_eq!(
            (unlimited.limit_bytes, unlimited.cgroup.as_str()),
            (None, "/a/b")
        );
    }
}
