//! The shape of the code, checked: no two top-level modules of a crate
//! import each other (directly or through others), no source file in
//! `balancer/src` over 350 lines, and no function that needs
//! `#[allow(clippy::too_many_arguments)]`. Reads the source as text.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const CRATES: [&str; 7] = [
    "balancer",
    "coordination",
    "loadgen",
    "memreport",
    "probe-agent",
    "sim",
    "test-support",
];
const MAX_LINES: usize = 350;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level module a file belongs to (`None` for the crate root).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (!matches!(name.as_str(), "lib" | "main" | "bin")).then_some(name)
}

/// The top-level modules a file names through `crate::`, outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
            if let Some(group) = rest.strip_prefix('{') {
                for item in group.split('}').next().unwrap_or("").split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() && name != "self" {
                        found.insert(name.to_string());
                    }
                }
            }
        }
    }
    found
}

/// Every cycle's members, as found by a depth-first search.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            found.push(path[at..].to_vec());
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    for name in CRATES {
        let src = workspace().join(name).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in rust_files(&src) {
            let Some(module) = top_module(&src, &file) else {
                continue;
            };
            let text = fs::read_to_string(&file).unwrap();
            let targets = graph.entry(module.clone()).or_default();
            targets.extend(imports(&text).into_iter().filter(|m| *m != module));
        }
        let modules: BTreeSet<String> = graph.keys().cloned().collect();
        for targets in graph.values_mut() {
            targets.retain(|t| modules.contains(t));
        }
        assert_eq!(
            cycles(&graph),
            Vec::<Vec<String>>::new(),
            "{name}: import cycles"
        );
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    let text =
        "use crate::{near::NearCache, ops::Ops};\n// crate::docs\nlet x = crate::metrics::M;";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, vec!["metrics", "near", "ops"]);
}

#[test]
fn no_balancer_source_file_is_over_350_lines() {
    let src = workspace().join("balancer/src");
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter_map(|f| {
            let lines = fs::read_to_string(&f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

#[test]
fn no_function_needs_too_many_arguments() {
    let allowed = ["clippy::too", "_many_arguments"].concat();
    for name in CRATES {
        let dirs = ["src", "tests", "benches"].map(|d| workspace().join(name).join(d));
        for file in dirs
            .iter()
            .filter(|d| d.is_dir())
            .flat_map(|d| rust_files(d))
        {
            let text = fs::read_to_string(&file).unwrap();
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
            assert!(
                !code.into_iter().any(|l| l.contains(&allowed)),
                "{} allows it",
                file.display()
            );
        }
    }
}
