//! The house rules of `src/`, checked from the source text: no import cycle between files, and each layer
//! imports only what lies below it (README "Layout"). A `use` or a path in code counts; comments, strings and
//! `#[cfg(test)]` code do not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One file of `src/` as a module: `kube/client.rs` is `kube::client`, `kube/mod.rs` is `kube`.
#[derive(Debug)]
struct SourceFile {
    module: String,
    path: PathBuf,
    /// Production code: comments, string literals and `#[cfg(test)]` items blanked out, lines kept.
    code: String,
}

/// An import of one file by another, with the line that makes it.
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    line: usize,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read_sources() -> Vec<SourceFile> {
    let root = src_dir();
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("src/ entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).expect("under src/");
                let Some(module) = module_of(relative) else {
                    continue;
                };
                let text = std::fs::read_to_string(&path).expect("source is readable");
                files.push(SourceFile {
                    module,
                    code: production_code(&text),
                    path,
                });
            }
        }
    }
    let test_only = test_only_modules(&files);
    files.retain(|file| !test_only.contains(&file.module));
    files.sort_by(|a, b| a.module.cmp(&b.module));
    files
}

/// `src/main.rs` is the binary, not part of the library's module tree.
fn module_of(relative: &Path) -> Option<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => return None,
        Some("lib") if parts.len() == 1 => return Some("crate".into()),
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts.join("::"))
}

/// Files declared as `#[cfg(test)] mod name;`: their imports are test code.
fn test_only_modules(files: &[SourceFile]) -> BTreeSet<String> {
    let mut test_only = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file.path).expect("source is readable");
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let declared = line
                .trim()
                .strip_prefix("mod ")
                .or_else(|| line.trim().strip_prefix("pub(crate) mod "));
            let Some(name) = declared.and_then(|rest| rest.strip_suffix(';')) else {
                continue;
            };
            let cfg_test = lines[..index]
                .iter()
                .rev()
                .take_while(|l| l.trim().starts_with("#["))
                .any(|l| l.contains("cfg(test)"));
            if cfg_test {
                test_only.insert(child_module(&file.module, name.trim()));
            }
        }
    }
    test_only
}

fn child_module(parent: &str, name: &str) -> String {
    if parent == "crate" {
        name.to_owned()
    } else {
        format!("{parent}::{name}")
    }
}

/// The text with comments and string and char literals blanked (newlines kept, so line numbers hold) and every
/// item under `#[cfg(test)]` removed.
fn production_code(text: &str) -> String {
    let blanked = blank_comments_and_strings(text);
    remove_cfg_test_items(&blanked)
}

fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_newline = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep_newline(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !is_ident(chars.get(i.wrapping_sub(1)))
        {
            // Raw string: r"..." or r#"..."#.
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push_str(&" ".repeat(j + 1 - i));
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    out.push_str(&" ".repeat(1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(keep_newline(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(keep_newline(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            // '\n', '\u{..}' end at the next quote after the escape; 'a' is three characters.
            let end = if chars[i + 1] == '\\' {
                (i + 3..chars.len())
                    .find(|k| chars[*k] == '\'')
                    .unwrap_or(chars.len() - 1)
            } else {
                i + 2
            };
            out.push_str(&" ".repeat(end + 1 - i));
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// `'a'`, `'\n'`, `'\u{1F600}'`, not a lifetime `'a`.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    matches!(
        (chars.get(i + 1), chars.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// Blanks every item that follows a `#[cfg(test)]` attribute: up to its `;` or its balanced `{ }`.
fn remove_cfg_test_items(text: &str) -> String {
    let mut out: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + pattern.len() <= out.len() {
        if out[i..i + pattern.len()] != pattern[..] {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + pattern.len();
        let mut depth = 0usize;
        while j < out.len() {
            match out[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ';' if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        let last = j.min(out.len() - 1);
        for c in &mut out[start..=last] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        i = j + 1;
    }
    out.into_iter().collect()
}

/// Every path a file names: `use` trees expanded (`use crate::a::{b, c::d}`), and `crate::`, `super::` and
/// `self::` paths in code, each resolved to an absolute module path with the line it is on.
fn named_paths(file: &SourceFile, modules: &BTreeSet<String>) -> Vec<(Vec<String>, usize)> {
    let code = &file.code;
    let mut paths = Vec::new();
    // Module names a `use` brought in (`use crate::{resize, taint}` → `taint::apply::run(..)` in code).
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let bytes: Vec<char> = code.chars().collect();
    let line_of = |offset: usize| bytes[..offset].iter().filter(|c| **c == '\n').count() + 1;
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !is_ident(bytes.get(i - 1)) && bytes[i - 1] != ':';
        if at_word && starts_with(&bytes, i, "use ") {
            let end = (i..bytes.len())
                .find(|k| bytes[*k] == ';')
                .unwrap_or(bytes.len());
            let tree: String = bytes[i + 4..end].iter().collect();
            for path in expand_use_tree(&tree) {
                if let Some(absolute) = absolute_path(&file.module, &path) {
                    if modules.contains(&absolute.join("::"))
                        && let Some(name) = absolute.last()
                    {
                        aliases.insert(name.clone(), absolute.clone());
                    }
                    paths.push((absolute, line_of(i)));
                }
            }
            i = end;
        } else if at_word
            && ["crate::", "super::", "self::"]
                .iter()
                .any(|p| starts_with(&bytes, i, p))
        {
            let end = (i..bytes.len())
                .find(|k| !(is_ident(bytes.get(*k)) || bytes[*k] == ':'))
                .unwrap_or(bytes.len());
            let text: String = bytes[i..end].iter().collect();
            let segments: Vec<String> = text
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(absolute) = absolute_path(&file.module, &segments) {
                paths.push((absolute, line_of(i)));
            }
            i = end;
        } else if at_word && is_ident(bytes.get(i)) {
            let word_end = (i..bytes.len())
                .find(|k| !is_ident(bytes.get(*k)))
                .unwrap_or(bytes.len());
            let word: String = bytes[i..word_end].iter().collect();
            match aliases.get(&word) {
                Some(absolute) if starts_with(&bytes, word_end, "::") => {
                    let end = (word_end..bytes.len())
                        .find(|k| !(is_ident(bytes.get(*k)) || bytes[*k] == ':'))
                        .unwrap_or(bytes.len());
                    let rest: String = bytes[word_end..end].iter().collect();
                    let mut path = absolute.clone();
                    path.extend(
                        rest.split("::")
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    );
                    paths.push((path, line_of(i)));
                    i = end;
                }
                _ => i = word_end,
            }
        } else {
            i += 1;
        }
    }
    paths
}

fn starts_with(chars: &[char], at: usize, prefix: &str) -> bool {
    prefix
        .chars()
        .enumerate()
        .all(|(k, p)| chars.get(at + k) == Some(&p))
}

/// `crate::a::{b, c::{d, e}}` → `[crate a b]`, `[crate a c d]`, `[crate a c e]`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let tree = tree
        .strip_prefix("pub(crate)")
        .or(tree.strip_prefix("pub"))
        .unwrap_or(&tree)
        .to_owned();
    let mut out = Vec::new();
    expand_into(&tree, Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Some(open) = tree.find('{') {
        let mut base = prefix.clone();
        base.extend(
            tree[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        for part in split_top_level(inner) {
            expand_into(part, base.clone(), out);
        }
    } else {
        let mut path = prefix;
        let item = tree.split(" as ").next().unwrap_or(tree);
        let item = item
            .split("as")
            .next()
            .filter(|_| !tree.contains("::as"))
            .unwrap_or(item);
        path.extend(
            item.split("::")
                .filter(|s| !s.is_empty() && *s != "*")
                .map(str::to_owned),
        );
        if path.last().is_some_and(|s| s == "self") {
            path.pop();
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A path as the module tree sees it, from the file's own module: `None` for paths outside the crate.
fn absolute_path(module: &str, path: &[String]) -> Option<Vec<String>> {
    let mut current: Vec<String> = if module == "crate" {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let mut segments = path.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            current.clear();
        }
        Some("super") => {
            while segments.peek().is_some_and(|s| *s == "super") {
                segments.next();
                current.pop();
            }
        }
        Some("self") => {
            segments.next();
        }
        _ => return None,
    }
    current.extend(segments.cloned());
    Some(current)
}

/// Resolves an absolute path to the file that defines what it names: the longest module prefix that is a file,
/// then through that file's `pub use child::Name` re-exports to the child.
fn resolve(path: &[String], modules: &BTreeMap<String, Reexports>) -> Option<String> {
    let mut best = None;
    for len in (0..=path.len()).rev() {
        let candidate = if len == 0 {
            "crate".to_owned()
        } else {
            path[..len].join("::")
        };
        if modules.contains_key(&candidate) {
            best = Some((candidate, len));
            break;
        }
    }
    let (mut module, mut len) = best?;
    // Follow re-exports: `taint::Action` is defined in `taint::decide` when taint/mod.rs says `pub use decide::Action`.
    while let Some(item) = path.get(len) {
        match modules.get(&module).and_then(|r| r.get(item)) {
            Some(target) if target != &module => {
                module = target.clone();
                len += 1;
                if module.split("::").count() > 8 {
                    break;
                }
            }
            _ => break,
        }
    }
    Some(module)
}

/// For a module: item name → the module it is re-exported from (`pub use decide::{Action, NodeState}`).
type Reexports = BTreeMap<String, String>;

fn reexports(file: &SourceFile) -> Reexports {
    let mut map = Reexports::new();
    for line_start in file.code.match_indices("pub use ").map(|(i, _)| i) {
        let end = file.code[line_start..]
            .find(';')
            .map_or(file.code.len(), |e| line_start + e);
        let tree = &file.code[line_start + "pub use ".len()..end];
        for path in expand_use_tree(tree) {
            let relative: Vec<String> = if ["crate", "super", "self"].contains(&path[0].as_str()) {
                path.clone()
            } else {
                // `pub use decide::X` in a module is relative to it.
                std::iter::once("self".to_owned())
                    .chain(path.iter().cloned())
                    .collect()
            };
            if let (Some(absolute), Some(name)) =
                (absolute_path(&file.module, &relative), path.last())
            {
                let source = absolute[..absolute.len() - 1].join("::");
                map.insert(
                    name.clone(),
                    if source.is_empty() {
                        "crate".into()
                    } else {
                        source
                    },
                );
            }
        }
    }
    map
}

/// Every import edge between two different files, parents' declarations of their children excluded.
fn edges(files: &[SourceFile]) -> Vec<Edge> {
    let modules: BTreeMap<String, Reexports> = files
        .iter()
        .map(|f| (f.module.clone(), reexports(f)))
        .collect();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges: Vec<Edge> = Vec::new();
    for file in files {
        for (path, line) in named_paths(file, &names) {
            let Some(to) = resolve(&path, &modules) else {
                continue;
            };
            let declares_child =
                to.starts_with(&format!("{}::", file.module)) || file.module == "crate";
            let duplicate = edges
                .iter()
                .any(|e| e.from == file.module && e.to == to && e.line == line);
            if to != file.module
                && !(declares_child && is_reexport_line(file, line))
                && file.module != "crate"
                && !duplicate
            {
                edges.push(Edge {
                    from: file.module.clone(),
                    to,
                    line,
                });
            }
        }
    }
    edges
}

fn is_reexport_line(file: &SourceFile, line: usize) -> bool {
    file.code.lines().nth(line - 1).is_some_and(|l| {
        l.trim_start().starts_with("pub use") || l.trim_start().starts_with("pub(crate) use")
    })
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &[Edge]) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for edge in edges {
        graph.entry(&edge.from).or_default().insert(&edge.to);
        graph.entry(&edge.to).or_default();
    }
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut State<'a>,
    ) {
        let index = state.index.len();
        state.index.insert(node, index);
        state.low.insert(node, index);
        state.stack.push(node);
        state.on_stack.insert(node);
        for &next in &graph[node] {
            if !state.index.contains_key(next) {
                visit(next, graph, state);
                let low = state.low[node].min(state.low[next]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(next) {
                let low = state.low[node].min(state.index[next]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.to_owned());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.components.push(component);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(node, &graph, &mut state);
        }
    }
    state.components
}

/// Where each file sits. A file may import its own layer and the layers below; `Core` files may import only
/// `Base` (not the log), other core files and the plain-data modules of `Edge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// Leaves everyone may use: exact quantities, the deadline, exit codes, Event bodies, object models, the log.
    Base,
    /// The peers' formats and clients: shell-operator files, Kubernetes, Prometheus, HTTP.
    Edge,
    /// Pure decisions: Base and the plain-data parts of Edge only.
    Core,
    /// What the user typed and what it means.
    Settings,
    /// The imperative shells: clients + core → writes.
    Controller,
    /// Sequencing and dispatch.
    App,
}

fn layer_of(module: &str) -> Layer {
    // The controllers' names (an enum and its clap spelling) are a leaf the command line and settings read.
    if module == "controller::kind" {
        return Layer::Base;
    }
    let top = module.split("::").next().unwrap_or(module);
    match top {
        "quantity" | "deadline" | "exit" | "events" | "model" | "log" | "error_chain" => {
            Layer::Base
        }
        "taint" | "resize" | "replay" => Layer::Core,
        "hook" | "kube" | "prometheus" | "http" => Layer::Edge,
        "cli" | "settings" => Layer::Settings,
        "controller" => Layer::Controller,
        "tick" | "app" | "replay_command" | "crate" => Layer::App,
        other => panic!("src/{other}: a new top-level module; give it a layer in this test"),
    }
}

/// What the pure core must not do: read the clock, the environment or files, log, or reach a client.
const CORE_FORBIDDEN: &[&str] = &[
    "SystemTime::now",
    "Instant::now",
    "Timestamp::now",
    "std::env",
    "std::fs",
    "std::net",
    "ureq::",
];

fn allowed(from: Layer, to: Layer, to_module: &str) -> bool {
    match from {
        // The core may read Prometheus' answer types and escaping (data, not the client).
        Layer::Core => {
            to == Layer::Base && !to_module.starts_with("log")
                || to == Layer::Core
                || PURE_EDGE_MODULES.contains(&to_module)
        }
        Layer::Base => to == Layer::Base,
        _ => to <= from,
    }
}

/// Edge modules that are plain data or pure functions, which the core may use.
const PURE_EDGE_MODULES: &[&str] = &[
    "prometheus::answer",
    "prometheus::escape",
    "prometheus::duration",
    "prometheus::sample",
    "prometheus::stats",
    "kube::go_json",
    "kube::json_pointer",
];

#[test]
fn no_import_cycle_between_files_of_src() {
    let files = read_sources();
    assert!(files.len() > 30, "read only {} files of src/", files.len());
    let edges = edges(&files);
    let found = cycles(&edges);
    let explained: Vec<String> = found
        .iter()
        .map(|component| {
            let inside: Vec<String> = edges
                .iter()
                .filter(|e| component.contains(&e.from) && component.contains(&e.to))
                .map(|e| format!("    {} -> {} (line {})", e.from, e.to, e.line))
                .collect();
            format!("  {}\n{}", component.join(", "), inside.join("\n"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "import cycles in src/:\n{}",
        explained.join("\n")
    );
}

#[test]
fn each_layer_imports_only_what_lies_below_it() {
    let files = read_sources();
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    // One line per pair of files, at the first import that makes it.
    for edge in edges(&files)
        .into_iter()
        .filter(|e| seen.insert((e.from.clone(), e.to.clone())))
    {
        let (from, to) = (layer_of(&edge.from), layer_of(&edge.to));
        if !allowed(from, to, &edge.to) {
            wrong.push(format!(
                "  {} ({from:?}) imports {} ({to:?}) at line {}",
                edge.from, edge.to, edge.line
            ));
        }
        if edge.to == "tick" && edge.from != "app" {
            wrong.push(format!(
                "  {} imports tick (only app may) at line {}",
                edge.from, edge.line
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering (README \"Layout\"):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_pure_core_reads_no_clock_environment_file_or_network() {
    let core: Vec<SourceFile> = read_sources()
        .into_iter()
        .filter(|f| layer_of(&f.module) == Layer::Core)
        .collect();
    assert!(
        core.len() >= 10,
        "only {} files of the core found",
        core.len()
    );
    let mut wrong = Vec::new();
    for file in &core {
        for (number, line) in file.code.lines().enumerate() {
            for forbidden in CORE_FORBIDDEN {
                if line.contains(forbidden) {
                    wrong.push(format!(
                        "  {}:{}: {forbidden}",
                        file.path.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the pure core does I/O or reads the clock:\n{}",
        wrong.join("\n")
    );
}

/// The checker itself: it must see the kinds of imports the rules are about, or the rules could pass on nothing.
#[test]
fn the_checker_finds_use_trees_inline_paths_and_reexports() {
    let file = SourceFile {
        module: "taint::apply".into(),
        path: PathBuf::from("src/taint/apply.rs"),
        code: production_code(
            "use super::{Action, decide::{NodeState}};\nuse crate::kube::{self, Patch as P};\n\
             // use crate::settings::X;\nfn f() { let s = \"crate::cli\"; crate::log::info(); }\n\
             #[cfg(test)]\nmod tests { use crate::tick::Tick; }\n",
        ),
    };
    let modules: BTreeSet<String> = ["taint", "taint::decide", "kube", "log"]
        .map(String::from)
        .into();
    let paths: Vec<String> = named_paths(&file, &modules)
        .into_iter()
        .map(|(p, l)| format!("{}@{l}", p.join("::")))
        .collect();
    assert_eq!(
        paths,
        [
            "taint::Action@1",
            "taint::decide::NodeState@1",
            "kube@2",
            "kube::Patch@2",
            "log::info@4"
        ]
    );
    let edges = vec![
        Edge {
            from: "a".into(),
            to: "b".into(),
            line: 1,
        },
        Edge {
            from: "b".into(),
            to: "c".into(),
            line: 1,
        },
        Edge {
            from: "c".into(),
            to: "a".into(),
            line: 1,
        },
        Edge {
            from: "c".into(),
            to: "d".into(),
            line: 1,
        },
    ];
    assert_eq!(
        cycles(&edges),
        vec![vec!["a".to_owned(), "b".into(), "c".into()]]
    );
}
