//! The README and `docs/` stay true: every file or folder they name exists, every link resolves,
//! and every `wasm-predict` command they show has the subcommands and flags its `--help` lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use support::{repo, BINARY};

/// Folders whose files are made by a build or a run, not committed: named in the docs, not checked.
const MADE: [&str; 5] = ["target/", "pkg/", "node_modules/", "www/vendor/", "bench/results/"];
/// Top-level folders of the repository: a code token starting with one of these is a path.
const TOP: [&str; 11] = [
    "src/",
    "crates/",
    "www/",
    "models/",
    "scripts/",
    "tests/",
    "bench/",
    "docs/",
    "examples/",
    ".ci/",
    "pkg/",
];

/// The markdown pages checked: the README and every page of `docs/`.
fn pages() -> Vec<(String, String)> {
    let root = repo();
    let mut pages = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    )];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    for path in docs {
        let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
        pages.push((name, std::fs::read_to_string(path).unwrap()));
    }
    pages
}

/// `a.{b,c}` -> `a.b`, `a.c` (one level of braces, as the docs write them).
fn expand_braces(token: &str) -> Vec<String> {
    match (token.find('{'), token.find('}')) {
        (Some(open), Some(close)) if open < close => token[open + 1..close]
            .split(',')
            .flat_map(|alt| expand_braces(&format!("{}{alt}{}", &token[..open], &token[close + 1..])))
            .collect(),
        _ => vec![token.to_string()],
    }
}

/// Inline code spans of a page, and the lines of its fenced code blocks.
fn code_of(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut spans, mut block_lines) = (vec![], vec![]);
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            // A trailing backslash continues the command on the next line.
            pending.push_str(line.trim_end().trim_end_matches('\\'));
            pending.push(' ');
            if !line.trim_end().ends_with('\\') {
                block_lines.push(std::mem::take(&mut pending));
            }
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            spans.push(code.to_string());
        }
    }
    (spans, block_lines)
}

/// Whether `token` names a file or folder of the repository (not one a build makes, nor a
/// placeholder such as `models/N/V/`).
fn is_repo_path(token: &str) -> bool {
    let nested_file = token.contains('/')
        && token.starts_with(|c: char| c.is_ascii_lowercase())
        && FILE_EXTENSIONS.iter().any(|e| token.ends_with(e));
    (TOP.iter().any(|top| token.starts_with(top)) || nested_file)
        && !token
            .split('/')
            .any(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_uppercase()))
        && !MADE.iter().any(|made| token.starts_with(made))
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-*{},".contains(c))
}

/// Extensions of the files the docs name by their bare name (`predictor.rs`).
const FILE_EXTENSIONS: [&str; 8] = [".rs", ".js", ".mjs", ".py", ".sh", ".html", ".css", ".toml"];

/// Whether `token` is a bare file name (no folder) of a kind the repository holds.
fn is_bare_file(token: &str) -> bool {
    // Lowercase first, as every file here is: `Chart.js` is a library's name.
    token.starts_with(|c: char| c.is_ascii_lowercase())
        && !token.contains('/')
        && FILE_EXTENSIONS.iter().any(|e| token.ends_with(e))
        && token.chars().all(|c| c.is_ascii_alphanumeric() || "._-{},".contains(c))
}

/// Every file name in the repository, outside what builds and installs make.
fn file_names(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                if !["target", "node_modules", ".git", "pkg"].contains(&name.as_str()) {
                    dirs.push(entry.path());
                }
            } else {
                names.insert(name);
            }
        }
    }
    names
}

fn path_exists(root: &Path, path: &str) -> bool {
    let path = path.trim_end_matches(['.', ',']);
    if let Some((dir, pattern)) = path.rsplit_once('/').filter(|(_, p)| p.contains('*')) {
        let (prefix, suffix) = pattern.split_once('*').unwrap();
        return std::fs::read_dir(root.join(dir)).is_ok_and(|mut entries| {
            entries.any(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.starts_with(prefix) && name.ends_with(suffix.trim_start_matches('*'))
            })
        });
    }
    root.join(path).exists()
}

#[test]
fn every_path_and_link_in_the_docs_exists() {
    let root = repo();
    let names = file_names(&root);
    let mut missing = BTreeSet::new();
    for (page, text) in pages() {
        let (spans, block_lines) = code_of(&text);
        // Files the page's own commands write: `<!-- made by these commands: a b -->`.
        let made: Vec<&str> = text
            .split("<!-- made by these commands:")
            .skip(1)
            .flat_map(|rest| rest.split("-->").next().unwrap_or("").split_whitespace())
            .collect();
        let tokens = spans
            .iter()
            .flat_map(|s| s.split_whitespace())
            .chain(block_lines.iter().flat_map(|l| l.split_whitespace()))
            .map(|t| t.trim_matches(|c| "\"'(),;:".contains(c)).to_string());
        for token in tokens {
            for path in expand_braces(&token) {
                let found = if made.iter().any(|m| path.starts_with(m)) {
                    true
                } else if is_repo_path(&path) {
                    path_exists(&root, &path)
                } else if is_bare_file(&path) {
                    names.contains(path.trim_end_matches(['.', ',']))
                } else {
                    true
                };
                if !found {
                    missing.insert(format!("{page}: {path}"));
                }
            }
        }
        // Markdown links and images to local files: `](target)`.
        for (at, _) in text.match_indices("](") {
            let target = text[at + 2..].split(')').next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let base = Path::new(&page).parent().unwrap();
            if !root.join(base).join(target).exists() {
                missing.insert(format!("{page}: link {target}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the docs name files that do not exist:\n{}",
        Vec::from_iter(missing).join("\n")
    );
}

/// `wasm-predict <path...> --help`: its text, or `None` when the subcommand does not exist.
fn help(cache: &mut HashMap<Vec<String>, Option<String>>, path: &[String]) -> Option<String> {
    cache
        .entry(path.to_vec())
        .or_insert_with(|| {
            let output = Command::new(BINARY).args(path).arg("--help").output().unwrap();
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
        })
        .clone()
}

/// The subcommands a help text lists under "Commands:".
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn every_documented_command_and_flag_exists() {
    let mut cache = HashMap::new();
    let top = help(&mut cache, &[]).unwrap();
    let mut wrong = BTreeSet::new();
    let mut commands = 0;
    for (page, text) in pages() {
        let (spans, block_lines) = code_of(&text);
        for line in spans.iter().chain(&block_lines) {
            let words: Vec<&str> = line.split_whitespace().collect();
            for (at, word) in words.iter().enumerate() {
                if *word != "wasm-predict" && *word != "$W" {
                    continue;
                }
                let rest = &words[at + 1..];
                let Some(first) = rest.first() else { continue };
                // `wasm-predict report {ab,drift}` names several subcommands at once.
                for first in expand_braces(first) {
                    if !subcommands(&top).contains(&first) {
                        if first.chars().all(|c| c.is_ascii_lowercase() || c == '-') && word == &"$W" {
                            wrong.insert(format!("{page}: no subcommand `{first}`"));
                        }
                        continue;
                    }
                    let mut path = vec![first.clone()];
                    let mut words_left = rest[1..].iter();
                    let mut flags = vec![];
                    for word in words_left.by_ref() {
                        if word.starts_with('#') || word.starts_with('|') || word.starts_with('&') {
                            break;
                        }
                        for word in expand_braces(word) {
                            let here = help(&mut cache, &path).unwrap_or_default();
                            if word.starts_with("--") {
                                flags.push(word.split('=').next().unwrap().to_string());
                            } else if flags.is_empty() && subcommands(&here).contains(&word) {
                                path.push(word);
                            }
                        }
                    }
                    commands += 1;
                    let Some(text) = help(&mut cache, &path) else {
                        wrong.insert(format!("{page}: no command `wasm-predict {}`", path.join(" ")));
                        continue;
                    };
                    for flag in flags {
                        let listed = text
                            .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '=')
                            .any(|w| w == flag || w.starts_with(&format!("{flag}<")));
                        if !listed && flag != "--help" {
                            wrong.insert(format!("{page}: `wasm-predict {}` has no flag {flag}", path.join(" ")));
                        }
                    }
                }
            }
        }
    }
    assert!(
        commands > 10,
        "only {commands} documented commands found: the parser lost them"
    );
    assert!(
        wrong.is_empty(),
        "the docs show commands that do not exist:\n{}",
        Vec::from_iter(wrong).join("\n")
    );
}

#[test]
fn the_readme_stays_short() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 250, "README.md has {lines} lines; details belong in docs/");
}
