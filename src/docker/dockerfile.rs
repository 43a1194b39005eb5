//! What a Dockerfile reads from its build context, found by reading the Dockerfile (pure: text in,
//! sources out, no I/O).
//!
//! - instructions continue over lines that end with the escape character (`\`, or the one a
//!   `# escape=` directive at the top names); comment lines inside a continuation are dropped;
//! - heredocs (`RUN <<EOF`, `COPY <<EOF /dest`) are skipped: their body is inline, not the context;
//! - `COPY` and `ADD` sources, JSON-array or shell form, after their flags (`--chown`, `--chmod`,
//!   `--link`, `--parents`, `--exclude`, …); `--from=STAGE|IMAGE` reads no context; an `ADD` of a
//!   URL or a git repository reads no context either;
//! - `RUN --mount=type=bind[,source=…]` without `from=` reads its source (the whole context when
//!   it names none; `bind` is also the type of a mount that names none);
//! - `$VAR` and `${VAR}` (with `:-` and `:+`) are replaced from `ARG` (its default, or the build
//!   arg) and `ENV`. A source that keeps a variable shipit cannot know reads the whole context, and
//!   says so in a warning.
//!
//! Every source keeps the Dockerfile line its instruction starts on. `--exclude` is not applied:
//! the sources stay a superset of what the build reads, never less.

use std::collections::BTreeMap;

/// One thing a Dockerfile reads from its build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The line its instruction starts on (1-based).
    pub line: u32,
    /// Relative to the context root, cleaned (no leading `/` or `./`, no `..` above the root);
    /// `None` for the whole context (`COPY . .`, or a source it could not resolve).
    pub path: Option<String>,
}

/// What [`reads`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    pub sources: Vec<Source>,
    /// Sources read as the whole context because a variable in them has no known value: each says
    /// the line and the variable.
    pub warnings: Vec<String>,
}

/// One instruction: its line, keyword (upper case) and the rest, continuations joined.
#[derive(Debug)]
struct Instruction {
    line: u32,
    keyword: String,
    args: String,
}

/// The escape character from the parser directives at the top of the file (`\` unless a
/// `# escape=` directive says `` ` ``).
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        if key == "escape" && value.trim() == "`" {
            return '`';
        }
    }
    '\\'
}

/// The heredoc words an instruction's first line opens (`<<EOF`, `<<-EOF`, `<<"EOF"`), in order,
/// each with whether its end marker may be indented by tabs.
fn heredocs(line: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        let mut after = &rest[at + 2..];
        let dash = after.starts_with('-');
        if dash {
            after = &after[1..];
        }
        let quoted = after.starts_with(['"', '\'']);
        let word: String = after
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let starts_a_word = at == 0 || rest[..at].ends_with(char::is_whitespace);
        if !word.is_empty() && (starts_a_word || quoted) {
            out.push((word.clone(), dash));
        }
        rest = &after[word.len().min(after.len())..];
    }
    out
}

fn instructions(text: &str) -> Vec<Instruction> {
    let escape = escape_char(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i].trim();
        if first.is_empty() || first.starts_with('#') {
            i += 1;
            continue;
        }
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut joined = String::new();
        loop {
            let current = lines.get(i).map_or("", |l| l.trim_end());
            i += 1;
            match current.strip_suffix(escape) {
                Some(head) if i < lines.len() => {
                    joined.push_str(head);
                    joined.push(' ');
                    // Comment and empty lines inside a continuation are dropped.
                    while i < lines.len() {
                        let next = lines[i].trim();
                        if next.starts_with('#') || next.is_empty() {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                _ => {
                    joined.push_str(current);
                    break;
                }
            }
        }
        // Skip the bodies of the heredocs the instruction opens.
        for (word, dash) in heredocs(&joined) {
            while i < lines.len() {
                let body = lines[i];
                i += 1;
                let end = if dash {
                    body.trim_start_matches('\t')
                } else {
                    body
                };
                if end.trim_end() == word {
                    break;
                }
            }
        }
        let joined = joined.trim();
        let (keyword, args) = match joined.split_once(char::is_whitespace) {
            Some((k, a)) => (k, a.trim()),
            None => (joined, ""),
        };
        out.push(Instruction {
            line,
            keyword: keyword.to_ascii_uppercase(),
            args: args.to_string(),
        });
    }
    out
}

/// Replaces `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` from `vars`. The names of
/// the variables it could not resolve are returned instead.
fn substitute(word: &str, vars: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
    let mut out = String::new();
    let mut unknown = Vec::new();
    let chars: Vec<char> = word.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                unknown.push(chars[i..].iter().collect());
                break;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            i += close + 3;
            let (name, op) = match inner.find(':') {
                Some(at) => (&inner[..at], Some(&inner[at..])),
                None => (inner.as_str(), None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            match (op, value) {
                (None, Some(v)) => out.push_str(v),
                (Some(op), v) if op.starts_with(":-") => match v {
                    Some(v) => out.push_str(v),
                    None if vars.contains_key(name) || !op[2..].contains('$') => {
                        out.push_str(&op[2..])
                    }
                    None => unknown.push(name.to_string()),
                },
                (Some(op), v) if op.starts_with(":+") => match (v, vars.contains_key(name)) {
                    (Some(_), _) => out.push_str(&op[2..]),
                    (None, true) => {}
                    (None, false) => unknown.push(name.to_string()),
                },
                (None, None) if vars.contains_key(name) => {}
                _ => unknown.push(name.to_string()),
            }
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        i += 1 + name.chars().count();
        match vars.get(&name) {
            Some(v) => out.push_str(v),
            None => unknown.push(name),
        }
    }
    match unknown.is_empty() {
        true => Ok(out),
        false => Err(unknown),
    }
}

/// A source cleaned as Docker cleans it, relative to the context root; `None` for the root itself.
fn clean(source: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    match parts.is_empty() {
        true => None,
        false => Some(parts.join("/")),
    }
}

/// An `ADD` source that is fetched, not read from the context.
fn is_remote(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    ["http://", "https://", "git://", "git@", "ssh://"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// The words of an instruction's arguments: its flags (`--name[=value]`) and the rest, in JSON
/// form when it is a JSON array of strings.
fn words(args: &str) -> (Vec<String>, Vec<String>) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        flags.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    if rest.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(rest)
    {
        return (flags, list);
    }
    (flags, rest.split_whitespace().map(str::to_string).collect())
}

/// `--name=value` → `value` when the flag is `--name`.
fn flag<'a>(flags: &'a [String], name: &str) -> Option<&'a str> {
    flags.iter().find_map(|f| {
        f.strip_prefix("--")
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix('='))
    })
}

/// The `KEY=VALUE` pairs of an `ENV` or `ARG` (also the old `ENV KEY VALUE`), quotes removed.
fn assignments(args: &str, keyword: &str) -> Vec<(String, Option<String>)> {
    let unquote = |v: &str| v.trim_matches(|c| c == '"' || c == '\'').to_string();
    let first = args.split_whitespace().next().unwrap_or("");
    if keyword == "ENV" && !first.contains('=') {
        let value = args[first.len()..].trim();
        return vec![(first.to_string(), Some(unquote(value)))];
    }
    args.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(unquote(v))),
            None => (pair.to_string(), None),
        })
        .collect()
}

/// The names the Dockerfile `text` declares with `ARG`, in any stage: the build args it takes.
pub fn arg_names(text: &str) -> std::collections::BTreeSet<String> {
    instructions(text)
        .into_iter()
        .filter(|ins| ins.keyword == "ARG")
        .flat_map(|ins| {
            assignments(&ins.args, "ARG")
                .into_iter()
                .map(|(name, _)| name)
        })
        .collect()
}

/// The images the Dockerfile `text` builds `FROM` (with `build_args` for the `ARG`s before the
/// first `FROM`), in order, once each: not `scratch`, not an earlier stage by its name. A name
/// that needs a variable shipit cannot know is left as written.
pub fn base_images(text: &str, build_args: &BTreeMap<String, String>) -> Vec<String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    let mut seen_from = false;
    for ins in instructions(text) {
        match ins.keyword.as_str() {
            "ARG" if !seen_from => {
                for (name, default) in assignments(&ins.args, "ARG") {
                    if let Some(v) = build_args.get(&name).cloned().or(default) {
                        vars.insert(name, v);
                    }
                }
            }
            "FROM" => {
                seen_from = true;
                let (_, words) = words(&ins.args);
                let Some(image) = words.first() else { continue };
                let image = substitute(image, &vars).unwrap_or_else(|_| image.clone());
                let is_stage = stages.contains(&image.to_ascii_lowercase());
                if let [_, as_, name] = &words[..]
                    && as_.eq_ignore_ascii_case("as")
                {
                    stages.push(name.to_ascii_lowercase());
                }
                if image.eq_ignore_ascii_case("scratch") || is_stage || out.contains(&image) {
                    continue;
                }
                out.push(image);
            }
            _ => {}
        }
    }
    out
}

/// What the Dockerfile `text` reads from its context, with `build_args` as the build's args.
pub fn reads(text: &str, build_args: &BTreeMap<String, String>) -> Reads {
    let mut out = Reads::default();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let push = |out: &mut Reads, line: u32, raw: &str, vars: &BTreeMap<String, String>| {
        match substitute(raw, vars) {
            Ok(source) => out.sources.push(Source {
                line,
                path: clean(&source),
            }),
            Err(unknown) => {
                out.warnings.push(format!(
                    "line {line}: `{raw}` names {} that shipit cannot know, so the whole build context counts as read",
                    unknown
                        .iter()
                        .map(|v| format!("${v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                out.sources.push(Source { line, path: None });
            }
        }
    };
    for ins in instructions(text) {
        match ins.keyword.as_str() {
            "ARG" => {
                for (name, default) in assignments(&ins.args, "ARG") {
                    match build_args.get(&name).cloned().or(default) {
                        Some(v) => vars.insert(name, v),
                        None => vars.remove(&name),
                    };
                }
            }
            "ENV" => {
                for (name, value) in assignments(&ins.args, "ENV") {
                    let value = value.and_then(|v| substitute(&v, &vars).ok());
                    match value {
                        Some(v) => vars.insert(name, v),
                        None => vars.remove(&name),
                    };
                }
            }
            "COPY" | "ADD" => {
                let (flags, words) = words(&ins.args);
                if flag(&flags, "from").is_some() || words.len() < 2 {
                    continue;
                }
                for source in &words[..words.len() - 1] {
                    if source.starts_with("<<") || (ins.keyword == "ADD" && is_remote(source)) {
                        continue;
                    }
                    push(&mut out, ins.line, source, &vars);
                }
            }
            "RUN" => {
                let (flags, _) = words(&ins.args);
                for mount in flags.iter().filter_map(|f| f.strip_prefix("--mount=")) {
                    let mut kind = "bind";
                    let mut source = ".";
                    let mut from = false;
                    for option in mount.split(',') {
                        let (k, v) = option.split_once('=').unwrap_or((option, ""));
                        match k {
                            "type" => kind = v,
                            "source" | "src" => source = v,
                            "from" => from = true,
                            _ => {}
                        }
                    }
                    if kind == "bind" && !from {
                        push(&mut out, ins.line, source, &vars);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;
    use test_case::test_case;

    #[test]
    fn base_images_are_the_froms_that_are_no_stage() {
        let text = "ARG GO=1.22\nFROM --platform=$BUILDPLATFORM golang:${GO} AS build\nFROM build AS test\nFROM scratch\nCOPY --from=build /a /a\nFROM gcr.io/distroless/static@sha256:abc\nFROM golang:1.22\n";
        assert_eq!(
            base_images(text, &BTreeMap::new()),
            ["golang:1.22", "gcr.io/distroless/static@sha256:abc"]
        );
        let args = BTreeMap::from([("GO".to_string(), "1.23".to_string())]);
        assert_eq!(base_images(text, &args)[0], "golang:1.23");
    }

    fn sources(text: &str) -> Vec<(u32, String)> {
        sources_with(text, &BTreeMap::new())
    }

    fn sources_with(text: &str, args: &BTreeMap<String, String>) -> Vec<(u32, String)> {
        reads(text, args)
            .sources
            .into_iter()
            .map(|s| (s.line, s.path.unwrap_or_else(|| "<context>".into())))
            .collect()
    }

    #[test_case("FROM scratch\nCOPY app /app", &[(2, "app")]; "plain copy")]
    #[test_case("FROM scratch\ncopy a b /dst/", &[(2, "a"), (2, "b")]; "lower case, two sources")]
    #[test_case("FROM scratch\nCOPY . .", &[(2, "<context>")]; "the whole context")]
    #[test_case("FROM scratch\nCOPY ./pb/ /pb", &[(2, "pb")]; "dot slash and trailing slash")]
    #[test_case("FROM scratch\nCOPY /etc/../pb /pb", &[(2, "pb")]; "dot dot is cleaned")]
    #[test_case("FROM scratch\nCOPY ../../x /x", &[(2, "x")]; "dot dot stops at the root")]
    #[test_case("FROM scratch\nCOPY [\"a b\", \"c\", \"/d/\"]", &[(2, "a b"), (2, "c")]; "json form")]
    #[test_case("FROM --platform=${BUILDPLATFORM} sdk AS builder\nCOPY [\"/src/acct/\", \"/pb/demo.proto\", \"Acct/\"]", &[(2, "src/acct"), (2, "pb/demo.proto")]; "json form from a root context")]
    #[test_case("FROM scratch\nCOPY --chown=1:1 --chmod=755 --link src /s", &[(2, "src")]; "flags")]
    #[test_case("FROM scratch\nCOPY --parents --exclude=*.md docs/ /d", &[(2, "docs")]; "parents and exclude")]
    #[test_case("FROM scratch\nCOPY --from=build /out /out", &[]; "from a stage")]
    #[test_case("FROM scratch\nCOPY --from=alpine:3 /bin/sh /sh", &[]; "from an image")]
    #[test_case("FROM scratch\nADD https://example.com/a.tgz /a", &[]; "add a url")]
    #[test_case("FROM scratch\nADD git@github.com:o/r.git /r", &[]; "add a git repository")]
    #[test_case("FROM scratch\nADD vendor.tgz /v", &[(2, "vendor.tgz")]; "add a local archive")]
    #[test_case("FROM scratch\nCOPY *.json /", &[(2, "*.json")]; "a glob")]
    #[test_case("FROM scratch\nCOPY a \\\n  b \\\n  /dst", &[(2, "a"), (2, "b")]; "continuation")]
    #[test_case("FROM scratch\nCOPY a \\\n# comment\n  /dst\nCOPY c /c", &[(2, "a"), (5, "c")]; "comment in a continuation")]
    #[test_case("# escape=`\nFROM scratch\nCOPY a `\n  /dst", &[(3, "a")]; "escape directive")]
    #[test_case("FROM scratch\n# COPY x /x\nCOPY y /y", &[(3, "y")]; "comments")]
    #[test_case("FROM scratch\nRUN --mount=type=bind,source=go.sum,target=/s true", &[(2, "go.sum")]; "bind mount")]
    #[test_case("FROM scratch\nRUN --mount=type=bind,src=a,target=/a --mount=type=cache,target=/c true", &[(2, "a")]; "src and a cache mount")]
    #[test_case("FROM scratch\nRUN --mount=target=/src make", &[(2, "<context>")]; "bind by default, the whole context")]
    #[test_case("FROM scratch\nRUN --mount=type=bind,from=build,source=/o,target=/o true", &[]; "bind from a stage")]
    #[test_case("FROM scratch\nRUN --mount=type=secret,id=npm true", &[]; "secret mount")]
    #[test_case("FROM scratch\nRUN <<EOF\nCOPY nope /nope\nEOF\nCOPY yes /yes", &[(5, "yes")]; "heredoc body is skipped")]
    #[test_case("FROM scratch\nCOPY <<EOF /etc/conf\nCOPY nope /nope\nEOF\nCOPY yes /yes", &[(5, "yes")]; "copy heredoc")]
    #[test_case("FROM scratch\nRUN <<-END\n\tCOPY nope /\n\tEND\nCOPY yes /yes", &[(5, "yes")]; "indented heredoc end")]
    #[test_case("FROM scratch\nRUN cat x <<< y\nCOPY yes /yes", &[(3, "yes")]; "here string is no heredoc")]
    #[test_case("FROM scratch\nCOPY", &[]; "no arguments")]
    #[test_case("FROM scratch\nCOPY onlyone", &[]; "one word")]
    fn table(text: &str, expected: &[(u32, &str)]) {
        let expected: Vec<(u32, String)> =
            expected.iter().map(|(l, p)| (*l, p.to_string())).collect();
        assert_eq!(sources(text), expected, "{text}");
    }

    #[test_case("ARG DIR=pb\nCOPY $DIR /pb", &[], "pb"; "arg default")]
    #[test_case("ARG DIR=pb\nCOPY ${DIR}/x /pb", &[("DIR", "proto")], "proto/x"; "build arg wins")]
    #[test_case("ENV D=lib\nCOPY $D /l", &[], "lib"; "env")]
    #[test_case("ENV D lib\nCOPY $D /l", &[], "lib"; "old env form")]
    #[test_case("ARG A=x\nENV B=${A}/y\nCOPY $B /", &[], "x/y"; "env from arg")]
    #[test_case("COPY ${NOPE:-def} /", &[], "def"; "default of an unset var")]
    #[test_case("ARG E=\nCOPY a${E:+-extra} /", &[], "a"; "alternative of an empty var")]
    #[test_case("ARG E=1\nCOPY a${E:+-extra} /", &[], "a-extra"; "alternative of a set var")]
    #[test_case("COPY \\$x /", &[], "$x"; "escaped dollar")]
    fn substitution(text: &str, args: &[(&str, &str)], expected: &str) {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let text = format!("FROM scratch\n{text}");
        let found = sources_with(&text, &args);
        assert_eq!(
            found.last().map(|(_, p)| p.as_str()),
            Some(expected),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_variable_reads_the_whole_context_and_says_so() {
        let r = reads("FROM scratch\nARG SRC\nCOPY $SRC /app", &BTreeMap::new());
        assert_eq!(
            r.sources,
            vec![Source {
                line: 3,
                path: None
            }]
        );
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].starts_with("line 3:"), "{}", r.warnings[0]);
        assert!(r.warnings[0].contains("$SRC"), "{}", r.warnings[0]);
    }

    /// The shape of a demo monorepo: a root context, a shared proto folder, a builder stage.
    #[test]
    fn a_multi_stage_build_from_a_root_context() {
        let text = indoc! {r#"
            # syntax=docker/dockerfile:1
            FROM golang:1.22 AS builder
            WORKDIR /src
            COPY src/checkout/go.mod src/checkout/go.sum ./
            RUN --mount=type=cache,target=/go/pkg/mod \
                go mod download
            COPY pb/ ./pb
            COPY src/checkout/ ./
            RUN go build -o /checkout .

            FROM gcr.io/distroless/static
            COPY --from=builder /checkout /checkout
            COPY ATTRIBUTION.md /
            ENTRYPOINT ["/checkout"]
        "#};
        assert_eq!(
            sources(text),
            vec![
                (4, "src/checkout/go.mod".to_string()),
                (4, "src/checkout/go.sum".to_string()),
                (7, "pb".to_string()),
                (8, "src/checkout".to_string()),
                (13, "ATTRIBUTION.md".to_string()),
            ]
        );
    }

    #[test]
    fn nothing_panics_on_odd_input() {
        for text in [
            "",
            "\\",
            "COPY \\",
            "COPY ${",
            "COPY ${A:",
            "COPY $ /",
            "RUN <<",
            "RUN <<EOF",
            "ARG",
            "ENV",
            "ENV =",
            "COPY [\"a\"",
            "RUN --mount=",
            "RUN --mount=type",
            "\u{feff}FROM x\nCOPY é /é",
        ] {
            let _ = reads(text, &BTreeMap::new());
        }
    }
}
