//! The layers of `src/`, kept by a test (in the spirit of `ArchUnit` and
//! cargo-deny's bans): every `crate::…` path a file names must point to its
//! own top-level module or to one in a lower layer. ARCHITECTURE.md explains
//! the layers; [`LAYERS`] is the same table, and [`ALLOWED`] lists the
//! upward imports that are known debts, each with the reason it is still
//! there. A new upward import fails this test; a debt that is paid off must
//! leave the table (the test says so), so the table only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of the library by layer, bottom first. A module may
/// use its own files and anything in a lower layer.
const LAYERS: &[(u8, &[&str])] = &[
    (1, &["config", "errors", "tls", "build_info", "output", "runbook", "series"]),
    (2, &["docker", "stack"]),
    (3, &["probe", "backup", "profile", "notify", "redact", "report"]),
    (4, &["compose", "ops", "ctl"]),
    (5, &["exporter"]),
    (6, &["commands", "cli"]),
];

/// Known upward imports, as (importing module, imported module, why). Same
/// layer imports are fine only when they form no circle (checked below).
const ALLOWED: &[(&str, &str, &str)] = &[
    ("config", "backup", "backup::Settings (the `backup` section) still lives beside the code that runs backups"),
    ("config", "notify", "notify::Settings (the `notify` section) still lives beside the notifier"),
    ("config", "profile", "profile::Settings (the `profile` section) still lives beside the generator"),
];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(_, mods)| mods.contains(&module)).map(|(layer, _)| *layer)
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The top-level module a file of `src/` belongs to (`src/probe/http.rs` →
/// `probe`, `src/report.rs` → `report`); `None` for `lib.rs` and `main.rs`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The top-level modules a file names through `crate::…`, with the line of
/// the first mention. Comments are skipped (doc links are not imports).
fn imports(text: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                top_level_items(group)
            } else {
                vec![rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()]
            };
            for name in names {
                found.entry(name).or_insert(number + 1);
            }
        }
    }
    found
}

/// The first path segment of each item of a `{a::b, c::{d, e}}` group
/// (`group` starts after the opening brace).
fn top_level_items(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .map(|item| item.trim().split("::").next().unwrap_or("").to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn imports_only_flow_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut used_allowances = BTreeSet::new();
    for file in sources(&src) {
        let Some(module) = module_of(&src, &file) else { continue };
        let own = layer_of(&module)
            .unwrap_or_else(|| panic!("src/{module} is in no layer: add it to LAYERS here and to ARCHITECTURE.md"));
        for (target, line) in imports(&std::fs::read_to_string(&file).unwrap()) {
            if target == module {
                continue;
            }
            let Some(theirs) = layer_of(&target) else { continue };
            graph.entry(module.clone()).or_default().insert(target.clone());
            if theirs > own {
                match ALLOWED.iter().position(|(from, to, _)| *from == module && *to == target) {
                    Some(i) => {
                        used_allowances.insert(i);
                    }
                    None => violations.push(format!(
                        "{}:{line}: `{module}` (layer {own}) uses `{target}` (layer {theirs})",
                        file.strip_prefix(&src).unwrap().display()
                    )),
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that run up the layers (ARCHITECTURE.md says where the code belongs):\n{}",
        violations.join("\n")
    );
    let stale: Vec<String> = ALLOWED
        .iter()
        .enumerate()
        .filter(|(i, _)| !used_allowances.contains(i))
        .map(|(_, (from, to, _))| format!("{from} -> {to}"))
        .collect();
    assert!(stale.is_empty(), "paid-off debts still in ALLOWED (remove them): {stale:?}");

    // Between folders, no circle at all outside the known debts.
    let debts: BTreeSet<(&str, &str)> = ALLOWED.iter().map(|(from, to, _)| (*from, *to)).collect();
    for (module, targets) in &graph {
        for target in targets {
            if debts.contains(&(module.as_str(), target.as_str())) {
                continue;
            }
            assert!(
                !reaches(&graph, target, module, &debts),
                "import circle between `{module}` and `{target}`: one of them must move down a layer"
            );
        }
    }
}

/// Whether `to` is reachable from `from` without a known debt.
fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str, debts: &BTreeSet<(&str, &str)>) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(at) = stack.pop() {
        if at == to {
            return true;
        }
        if !seen.insert(at.clone()) {
            continue;
        }
        for next in graph.get(&at).into_iter().flatten() {
            if !debts.contains(&(at.as_str(), next.as_str())) {
                stack.push(next.clone());
            }
        }
    }
    false
}

#[test]
fn the_import_reader_sees_paths_groups_and_skips_comments() {
    let text = "use crate::config::Config;\nuse crate::{probe::{Kind, Spec}, docker};\n// crate::exporter in a comment\nlet v = crate::build_info::VERSION;";
    let found: Vec<String> = imports(text).into_keys().collect();
    assert_eq!(found, ["build_info", "config", "docker", "probe"]);
}
