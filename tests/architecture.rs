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
/// use its own files, anything in a lower layer, and the modules listed
/// before it in its own layer (so `probe` may not use `profile`, nor
/// `profile` use `probe`'s neighbours above it): the order is total, and no
/// circle can form.
const LAYERS: &[(u8, &[&str])] = &[
    (1, &["errors", "tls", "build_info", "output", "series", "config", "runbook"]),
    (2, &["docker", "stack"]),
    (3, &["probe", "backup", "profile", "notify", "report"]),
    (4, &["compose", "ops", "jobs", "ctl"]),
    (5, &["exporter"]),
    (6, &["cli", "commands"]),
];

/// Known upward imports, as (importing module, imported module, why): none
/// today. A debt taken on must be written here with its reason, and leave
/// when it is paid.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// The layer of a module and its place within the layer.
fn rank_of(module: &str) -> Option<(u8, usize)> {
    LAYERS.iter().find_map(|(layer, mods)| mods.iter().position(|m| *m == module).map(|i| (*layer, i)))
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

/// Every source file of `src/` with its top-level module and text.
fn read_sources() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    sources(&src)
        .into_iter()
        .filter_map(|file| {
            let module = module_of(&src, &file)?;
            let text = std::fs::read_to_string(&file).unwrap();
            Some((file.strip_prefix(&src).unwrap().display().to_string(), module, text))
        })
        .collect()
}

/// The layer rules over `(file, module, text)` triples: `Err` lists every
/// import that runs up (or sideways to a module listed later in the same
/// layer), every paid-off debt still in [`ALLOWED`], or a circle.
fn check(files: &[(String, String, String)]) -> Result<(), String> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut used_allowances = BTreeSet::new();
    for (file, module, text) in files {
        let own = rank_of(module)
            .unwrap_or_else(|| panic!("src/{module} is in no layer: add it to LAYERS here and to ARCHITECTURE.md"));
        for (target, line) in imports(text) {
            if target == *module {
                continue;
            }
            let Some(theirs) = rank_of(&target) else { continue };
            graph.entry(module.clone()).or_default().insert(target.clone());
            if theirs > own {
                match ALLOWED.iter().position(|(from, to, _)| from == module && *to == target) {
                    Some(i) => {
                        used_allowances.insert(i);
                    }
                    None if theirs.0 == own.0 => violations
                        .push(format!("{file}:{line}: `{module}` uses `{target}`, listed after it in layer {}", own.0)),
                    None => violations.push(format!(
                        "{file}:{line}: `{module}` (layer {}) uses `{target}` (layer {})",
                        own.0, theirs.0
                    )),
                }
            }
        }
    }
    if !violations.is_empty() {
        return Err(format!(
            "imports that run up the layers (ARCHITECTURE.md says where the code belongs):\n{}",
            violations.join("\n")
        ));
    }
    let stale: Vec<String> = ALLOWED
        .iter()
        .enumerate()
        .filter(|(i, _)| !used_allowances.contains(i))
        .map(|(_, (from, to, _))| format!("{from} -> {to}"))
        .collect();
    if !stale.is_empty() {
        return Err(format!("paid-off debts still in ALLOWED (remove them): {stale:?}"));
    }
    // Between folders, no circle at all outside the known debts.
    let debts: BTreeSet<(&str, &str)> = ALLOWED.iter().map(|(from, to, _)| (*from, *to)).collect();
    for (module, targets) in &graph {
        for target in targets {
            if !debts.contains(&(module.as_str(), target.as_str())) && reaches(&graph, target, module, &debts) {
                return Err(format!("import circle between `{module}` and `{target}`: one of them must move down"));
            }
        }
    }
    Ok(())
}

#[test]
fn imports_only_flow_down_the_layers() {
    if let Err(e) = check(&read_sources()) {
        panic!("{e}");
    }
}

/// The upward imports the architecture issue found in the first version:
/// each, put back into today's sources, must fail the check.
#[test]
fn the_old_upward_imports_would_fail() {
    let old = [
        ("config/mod.rs", "config", "use crate::exporter::web::WebConfig;"),
        ("config/mod.rs", "config", "use crate::exporter::api::auth::Settings;"),
        ("docker/mod.rs", "docker", "use crate::probe::chain;"),
        ("docker/mod.rs", "docker", "use crate::probe::tls;"),
        ("probe/drift.rs", "probe", "use crate::compose::declared;"),
        ("probe/drift.rs", "probe", "use crate::profile::compose::LABEL_PROFILE;"),
        ("profile/grafana/mod.rs", "profile", "use crate::ops::runbook;"),
        ("profile/compose.rs", "profile", "use crate::ops::smoke::DIR;"),
        ("profile/app.rs", "profile", "use crate::ops::init;"),
        ("ops/context.rs", "ops", "use crate::exporter::VERSION;"),
        ("config/mod.rs", "config", "use crate::probe::{Kind, Spec};"),
        ("config/mod.rs", "config", "use crate::backup::Settings;"),
    ];
    let today = read_sources();
    for (file, module, line) in old {
        let mut files = today.clone();
        files.push((file.to_owned(), module.to_owned(), line.to_owned()));
        assert!(check(&files).is_err(), "`{line}` in src/{file} passed the layer check");
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
