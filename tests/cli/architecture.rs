//! The shape of the house, checked from the source text: no modules that import each other in a
//! loop (siblings in one folder, and the crate's top-level modules), and no source file over 700
//! lines. Issue 8 pins both; a change that brings a loop back fails here with the loop named.
//!
//! Read as text, not parsed: a module's imports are the `crate::…` paths in its files and, in its own
//! file (or folder's `mod.rs`), the `super::…` paths naming a sibling. Comment lines, unit-test
//! modules (`#[cfg(test)] mod tests` to the end of a file) and `tests/` folders are left out: tests
//! may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`, tests folders and test files left out.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "tests" && name != "property_tests" {
                out.extend(rust_files(&path));
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
    out
}

/// The code of a file as its module sees it: no comment lines, no unit-test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a readable source file");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `text` names `path` followed by a word boundary (`crate::engine` but not
/// `crate::engine_x`).
fn names(text: &str, path: &str) -> bool {
    text.match_indices(path).any(|(i, _)| {
        !text[i + path.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The child modules of folder `dir` (files and folders), `mod.rs`/`lib.rs`/`main.rs` left out.
fn children(dir: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "tests" && name != "property_tests" {
                out.push((name, rust_files(&path)));
            }
        } else if let Some(stem) = name.strip_suffix(".rs")
            && !["mod", "lib", "main", "tests"].contains(&stem)
        {
            out.push((stem.to_string(), vec![path]));
        }
    }
    out.sort();
    out
}

/// A loop among the modules of `graph`, if there is one, as the modules in order.
fn a_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut found = path[i..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// The imports among the child modules of `dir`, whose module path is `module` (`""` for the crate).
fn sibling_imports(dir: &Path, module: &str) -> BTreeMap<String, BTreeSet<String>> {
    let kids = children(dir);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, files) in &kids {
        for file in files {
            let text = code(file);
            let own = file.file_stem().is_some_and(|s| s == name.as_str())
                || file.parent() == Some(&dir.join(name)) && file.ends_with("mod.rs");
            for (other, _) in &kids {
                if other == name {
                    continue;
                }
                let absolute = if module.is_empty() {
                    format!("crate::{other}")
                } else {
                    format!("crate::{module}::{other}")
                };
                let relative = own
                    && (names(&text, &format!("super::{other}"))
                        || text.match_indices("super::{").any(|(i, _)| {
                            let group = &text[i..];
                            let group = &group[..group.find('}').unwrap_or(group.len())];
                            group
                                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                                .any(|word| word == other)
                        }));
                if names(&text, &absolute) || relative {
                    graph.entry(name.clone()).or_default().insert(other.clone());
                }
            }
        }
    }
    graph
}

fn folders(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() && name != "tests" && name != "property_tests" {
            out.extend(folders(&path));
        }
    }
    out
}

#[test]
fn no_modules_import_each_other_in_a_loop() {
    let root = src();
    let mut loops = Vec::new();
    for dir in folders(&root) {
        let module = dir
            .strip_prefix(&root)
            .expect("below src")
            .to_string_lossy()
            .replace('/', "::");
        if let Some(found) = a_loop(&sibling_imports(&dir, &module)) {
            loops.push(format!(
                "src/{}: {}",
                module.replace("::", "/"),
                found.join(" → ")
            ));
        }
    }
    assert!(
        loops.is_empty(),
        "modules importing each other in a loop:\n{}",
        loops.join("\n")
    );
}

#[test]
fn the_loop_finder_finds_a_loop_and_passes_a_line() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    };
    let found = a_loop(&graph(&[
        ("api", "state"),
        ("state", "faults"),
        ("faults", "api"),
    ]));
    assert_eq!(
        found,
        Some(vec![
            "api".into(),
            "state".into(),
            "faults".into(),
            "api".into()
        ])
    );
    assert_eq!(a_loop(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert!(names("use crate::engine::x;", "crate::engine"));
    assert!(!names("use crate::engine_x;", "crate::engine"));
}

#[test]
fn no_source_file_is_over_700_lines() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for dir in ["src", "tests"] {
        let mut stack = vec![manifest.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("a folder").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    all.push(path);
                }
            }
        }
    }
    let long: Vec<String> = all
        .iter()
        .filter_map(|p| {
            let lines = std::fs::read_to_string(p).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}
