//! Globs with .gitignore semantics.
//!
//! - `*` and `?` never cross `/`; `**` does.
//! - A pattern with no `/` (other than a trailing one) matches at any depth: `*.md` is `**/*.md`.
//! - A leading `/` anchors a pattern at the repository root; other patterns with a `/` are anchored too.
//! - A pattern also matches everything under what it names: `libs/common` means `libs/common/**`.
//!
//! [`Matcher`] matches by literal folder first: most patterns of a monorepo start with the folder
//! of their service, so a changed path is looked up by each of its folders in a map, and only the
//! patterns filed under one of them are tried. A wildcard tail (`services/x/src/*/*.txt`) of
//! literal text, `*`, `?` and whole `**` components is matched without a regex; one with classes
//! or alternatives is compiled the first time a path that could match reaches its folder. So a
//! config with a thousand wildcard excludes costs no more to load than one with folders. Patterns
//! without a literal folder in front (`**/*.md`, `*/docs/**`) are few and shared, and tried on
//! every path: those of literal text, `*`, `?` and `**` are matched as tails are, against the whole
//! path, after a look for the literal text every match holds (`.md` at the end, `.md/` inside);
//! the rest go into one [`GlobSet`] of distinct globs.
//!
//! Over 600 lines: the matcher is one piece (folder map, wildcard tails, the shared set), each
//! part written for the others' indexes; its tests are in `glob/tests.rs`.

use std::path::Path;
use std::sync::OnceLock;

use foldhash::{HashMap, HashMapExt};
use globset::{Candidate, Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// One pattern as written by the user, turned into the globs that implement its meaning.
fn expand(pattern: &str) -> Vec<String> {
    let (base, under) = expand_base(pattern);
    match under {
        true => vec![format!("{base}/**"), base],
        false => vec![base],
    }
}

/// [`expand`] as its first glob, and whether `BASE/**` goes with it (a pattern also matches
/// everything under what it names), so that `BASE/**` is built only where it is filed apart.
fn expand_base(pattern: &str) -> (String, bool) {
    let trimmed = pattern.trim_end_matches('/');
    let (anchored, body) = match trimmed.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (trimmed.contains('/'), trimmed),
    };
    let base = if anchored || body.starts_with("**/") || body == "**" {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    let under = !(base.ends_with("/**") || base == "**");
    (base, under)
}

fn compile(glob: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// A repository path as a rooted glob that matches it and nothing else: `/` first, glob syntax
/// escaped (a folder named `a[1]` is no character class).
pub fn literal_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A pattern that is not a glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("an empty pattern matches nothing")]
    Empty,
    #[error("{0}")]
    Invalid(globset::ErrorKind),
}

/// Checks one pattern, as the config loader does for every glob it reads.
pub fn check(pattern: &str) -> Result<(), PatternError> {
    if pattern.trim().is_empty() {
        return Err(PatternError::Empty);
    }
    if plain(pattern) {
        return Ok(());
    }
    for glob in expand(pattern) {
        // Literal text, `*`, `?` and whole `**` components are always a valid glob.
        if Simple::parse(&glob).is_none() {
            compile(&glob).map_err(|e| PatternError::Invalid(e.kind().clone()))?;
        }
    }
    Ok(())
}

/// Literal text, `*`, `?` and whole `**` components, never two `**` in a row: a pattern whose
/// every expansion [`Simple`] matches, so valid without building anything (most of a ci.toml).
fn plain(pattern: &str) -> bool {
    let mut after_recursive = false;
    pattern.as_bytes().split(|&b| b == b'/').all(|bytes| {
        let recursive = bytes == b"**";
        let ok = if recursive {
            !after_recursive
        } else {
            !bytes.iter().enumerate().any(|(i, &b)| {
                matches!(b, b'[' | b']' | b'{' | b'}' | b',' | b'\\')
                    || (b == b'*' && bytes.get(i + 1) == Some(&b'*'))
            })
        };
        after_recursive = recursive;
        ok
    })
}

/// Buffers reused from one path to the next, so that matching allocates nothing per path.
#[derive(Debug, Default)]
pub struct Scratch {
    patterns: Vec<usize>,
    globs: Vec<usize>,
}

/// Many patterns, each tagged with a value of the caller's (which service, which rule), matched in one pass.
#[derive(Debug)]
pub struct Matcher<T> {
    tags: Vec<T>,
    /// Patterns that match everything (`**`).
    everything: Vec<usize>,
    /// Fully literal globs, by the one path each matches.
    exact: HashMap<String, Vec<usize>>,
    /// By literal folder (no trailing `/`): what a path under that folder may hit.
    folders: HashMap<String, Folder>,
    /// Globs with a literal folder and a wildcard tail, each distinct glob once.
    tails: Vec<Tail>,
    /// Globs with no literal folder in front (`**/*.md`) that need no regex: indices into
    /// `tails`, matched against the whole path.
    floating_tails: Vec<usize>,
    /// The other globs with no literal folder in front, each distinct glob once, with the
    /// patterns of each.
    floating: GlobSet,
    floating_patterns: Vec<Vec<usize>>,
}

#[derive(Debug, Default)]
struct Folder {
    /// Patterns of the form `FOLDER/**`: every path under the folder.
    under: Vec<usize>,
    /// Indices into `Matcher::tails` of the globs that start with this folder.
    tails: Vec<usize>,
}

/// A glob with a literal folder and a wildcard tail.
#[derive(Debug)]
struct Tail {
    /// The literal text the glob ends with: a path that does not end so cannot match.
    suffix: String,
    /// Literal text a matching path holds ([`literal_inside`]); empty when there is none.
    inside: String,
    how: TailMatch,
    patterns: Vec<usize>,
}

#[derive(Debug)]
enum TailMatch {
    /// The part after the folder, matched without a regex.
    Simple(Simple),
    /// A tail with classes or alternatives: globset, compiled the first time a path reaches its
    /// folder, matched against the whole path.
    Glob {
        glob: String,
        compiled: OnceLock<Option<GlobSet>>,
    },
}

impl Tail {
    fn new(glob: &str, how: TailMatch, id: usize) -> Tail {
        Tail {
            suffix: literal_suffix(glob).to_string(),
            inside: literal_inside(glob),
            how,
            patterns: vec![id],
        }
    }

    /// `rest` is what follows the folder and its `/`.
    fn is_match(&self, path: &str, rest: &str) -> bool {
        let (path_bytes, inside) = (path.as_bytes(), self.inside.as_bytes());
        if !ends_with(path_bytes, self.suffix.as_bytes())
            || (!inside.is_empty() && !path_bytes.windows(inside.len()).any(|w| same(w, inside)))
        {
            return false;
        }
        match &self.how {
            TailMatch::Simple(simple) => simple.is_match(rest.as_bytes()),
            TailMatch::Glob { glob, compiled } => {
                let set = compiled.get_or_init(|| {
                    let mut builder = GlobSetBuilder::new();
                    // It was checked when the config was loaded; only a regex too large to build
                    // fails here.
                    let built = compile(glob).and_then(|g| builder.add(g).build());
                    built
                        .inspect_err(|e| tracing::warn!("glob {glob} matches nothing: {e}"))
                        .ok()
                });
                set.as_ref().is_some_and(|s| s.is_match(path))
            }
        }
    }
}

/// A glob of literal text, `*`, `?` and whole `**` components (never two in a row), matched
/// component by component over bytes, as globset's regex would match it.
#[derive(Debug)]
struct Simple {
    components: Vec<Component>,
    /// The fewest path components a match has: one per segment, one for a trailing `**`.
    min_parts: usize,
    /// Without `**`, a match has exactly `min_parts` components.
    recursive: bool,
}

#[derive(Debug)]
enum Component {
    /// `**`: any number of components; at the end, at least one (`a/**` is not `a`).
    Recursive,
    Segment(Vec<Token>),
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Byte(u8),
    /// `?`: one byte, never `/`.
    Any,
    /// `*`: any bytes, never `/`.
    Star,
}

impl Simple {
    fn parse(glob: &str) -> Option<Simple> {
        let mut components = Vec::new();
        for text in glob.split('/') {
            if text == "**" {
                if matches!(components.last(), Some(Component::Recursive)) {
                    return None;
                }
                components.push(Component::Recursive);
                continue;
            }
            // Byte by byte: an escaped character's other bytes, as any byte of a character past
            // ASCII, are no syntax and come out literal.
            let mut tokens = Vec::with_capacity(text.len());
            let mut bytes = text.bytes().peekable();
            while let Some(byte) = bytes.next() {
                tokens.push(match byte {
                    b'\\' => Token::Byte(bytes.next()?),
                    b'*' if bytes.peek() == Some(&b'*') => return None,
                    b'*' => Token::Star,
                    b'?' => Token::Any,
                    b'[' | b']' | b'{' | b'}' | b',' => return None,
                    byte => Token::Byte(byte),
                });
            }
            components.push(Component::Segment(tokens));
        }
        let segments = components
            .iter()
            .filter(|c| matches!(c, Component::Segment(_)))
            .count();
        let trailing = matches!(components.last(), Some(Component::Recursive));
        Some(Simple {
            min_parts: segments + usize::from(trailing),
            recursive: segments < components.len(),
            components,
        })
    }

    /// Whether `path` matches, where a trailing `**` needs at least one component (`a/**` is not
    /// `a`, as in globset). Allocates nothing for a path of fewer than 127 components.
    fn is_match(&self, path: &[u8]) -> bool {
        // Most paths under a folder have the wrong depth: no need to look further.
        let n = path.iter().filter(|&&b| b == b'/').count() + 1;
        if n < self.min_parts || (!self.recursive && n != self.min_parts) {
            return false;
        }
        let parts = || path.split(|&b| b == b'/');
        if !self.recursive {
            // One component a part, in order.
            return self
                .components
                .iter()
                .zip(parts())
                .all(|(c, part)| match c {
                    Component::Segment(tokens) => segment(tokens, part),
                    Component::Recursive => false,
                });
        }
        if n >= 127 {
            return self.is_match_deep(path, n);
        }
        // Bit j: the components so far match the first j parts of the path.
        let mut reached: u128 = 1;
        let last = self.components.len().saturating_sub(1);
        for (k, component) in self.components.iter().enumerate() {
            reached = match component {
                // Any number of parts (at the end, at least one) after the first part reached.
                Component::Recursive => {
                    let from = reached.trailing_zeros() as usize + usize::from(k == last);
                    match from <= n {
                        true => (!0u128 >> (127 - n)) & (!0u128 << from),
                        false => 0,
                    }
                }
                Component::Segment(tokens) => parts()
                    .enumerate()
                    .filter(|&(j, part)| reached >> j & 1 == 1 && segment(tokens, part))
                    .fold(0, |next, (j, _)| next | 1 << (j + 1)),
            };
            if reached == 0 {
                return false;
            }
        }
        reached >> n & 1 == 1
    }

    /// [`Simple::is_match`] for a path too deep for a bit set.
    fn is_match_deep(&self, path: &[u8], n: usize) -> bool {
        let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        // reached[j]: the components so far match the first j parts of the path.
        let mut reached = vec![false; n + 1];
        reached[0] = true;
        let last = self.components.len().saturating_sub(1);
        for (k, component) in self.components.iter().enumerate() {
            let mut next = vec![false; n + 1];
            match component {
                Component::Recursive => {
                    let min = usize::from(k == last);
                    let mut any = false;
                    for j in min..=n {
                        any |= reached[j - min];
                        next[j] = any;
                    }
                }
                Component::Segment(tokens) => {
                    for (j, part) in parts.iter().enumerate() {
                        next[j + 1] = reached[j] && segment(tokens, part);
                    }
                }
            }
            reached = next;
        }
        reached[n]
    }
}

/// One component against `*`, `?` and bytes: the classic wildcard walk, backing up to the last `*`.
fn segment(tokens: &[Token], text: &[u8]) -> bool {
    let (mut t, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&byte) = text.get(i) {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, i));
                t += 1;
            }
            Some(Token::Any) => (t, i) = (t + 1, i + 1),
            Some(Token::Byte(b)) if *b == byte => (t, i) = (t + 1, i + 1),
            _ => match star {
                Some((st, si)) => {
                    (t, i) = (st + 1, si + 1);
                    star = Some((st, si + 1));
                }
                None => return false,
            },
        }
    }
    tokens
        .get(t..)
        .is_some_and(|rest| rest.iter().all(|x| matches!(x, Token::Star)))
}

/// Whether two byte strings are the same, compared in place: the texts compared here are a few
/// bytes, for which a call to `memcmp` costs more than the comparison (a pattern on every path,
/// `**/*.md`, is 22,000 calls on `shipit-bench-affected`).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn ends_with(text: &[u8], end: &[u8]) -> bool {
    text.len() >= end.len() && same(&text[text.len() - end.len()..], end)
}

/// What a glob component may hold that is not literal text (or is an escape).
fn is_syntax(byte: u8) -> bool {
    matches!(byte, b'*' | b'?' | b'[' | b']' | b'{' | b'}' | b',' | b'\\')
}

/// One `/`-separated component of a glob, unescaped, when it has no glob syntax.
fn literal(component: &str) -> Option<String> {
    let mut out = String::with_capacity(component.len());
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '*' | '?' | '[' | ']' | '{' | '}' | ',' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The literal text at the end of a glob's last component, after its last piece of syntax: every
/// match ends with it. (Not across a `/`: `**/docs` matches `docs`.)
fn literal_suffix(glob: &str) -> &str {
    let start = glob
        .rfind(['*', '?', '[', ']', '{', '}', ',', '\\', '/'])
        .map_or(0, |i| i + 1);
    &glob[start..]
}

/// What every path a glob matches holds somewhere: for `…/NAME/**`, the literal end of NAME and
/// the `/` after it (`**/*.md/**` needs `.md/`). Empty when there is nothing to look for.
fn literal_inside(glob: &str) -> String {
    match glob.strip_suffix("/**").map(literal_suffix) {
        Some(end) if !end.is_empty() => [end, "/"].concat(),
        _ => String::new(),
    }
}

/// Where a glob (as [`expand`] makes it) is filed.
enum Shape<'a> {
    Everything,
    Exact(String),
    Under(String),
    /// The literal folder, and the rest of the glob after it and its `/`.
    Tail(String, &'a str),
    Floating,
}

fn shape(glob: &str) -> Shape<'_> {
    if glob == "**" {
        return Shape::Everything;
    }
    // Most globs of a ci.toml are a plain path, or a plain folder and `/**`.
    if !glob.bytes().any(is_syntax) {
        return Shape::Exact(glob.to_string());
    }
    if let Some(folder) = glob.strip_suffix("/**")
        && !folder.is_empty()
        && !folder.bytes().any(is_syntax)
    {
        return Shape::Under(folder.to_string());
    }
    // Without an escape before it, the first piece of syntax ends the literal folder at the
    // component that holds it.
    if let Some(first) = glob.bytes().position(is_syntax)
        && glob.as_bytes()[first] != b'\\'
    {
        return match glob[..first].rfind('/') {
            None => Shape::Floating,
            Some(end) => match &glob[end + 1..] {
                "**" => Shape::Under(glob[..end].to_string()),
                rest => Shape::Tail(glob[..end].to_string(), rest),
            },
        };
    }
    let mut folder = String::with_capacity(glob.len());
    // Byte offset of the first component that is not literal, if any.
    let mut rest_at = None;
    let mut offset = 0;
    for component in glob.split('/') {
        if offset > 0 {
            folder.push('/');
        }
        if !component.bytes().any(is_syntax) {
            folder.push_str(component);
        } else if component.contains('\\')
            && let Some(lit) = literal(component)
        {
            folder.push_str(&lit);
        } else {
            folder.truncate(folder.len().saturating_sub(usize::from(offset > 0)));
            rest_at = Some(offset);
            break;
        }
        offset += component.len() + 1;
    }
    match rest_at {
        None => Shape::Exact(folder),
        Some(0) => Shape::Floating,
        Some(at) => match &glob[at..] {
            "**" => Shape::Under(folder),
            rest => Shape::Tail(folder, rest),
        },
    }
}

impl<T> Matcher<T> {
    /// Compiles `(pattern, tag)` pairs. Patterns are expected to have passed [`check`].
    pub fn new(patterns: impl IntoIterator<Item = (String, T)>) -> Result<Self, globset::Error> {
        let patterns = patterns.into_iter();
        let expected = patterns.size_hint().0;
        let mut tags = Vec::with_capacity(expected);
        let mut everything = Vec::new();
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut folders: HashMap<String, Folder> = HashMap::with_capacity(expected);
        let mut tails: Vec<Tail> = Vec::new();
        // Each distinct tail glob once, whatever folder or pattern names it again.
        let mut tail_index: HashMap<String, usize> = HashMap::new();
        let mut floating_tails = Vec::new();
        let mut floating = GlobSetBuilder::new();
        let mut floating_patterns: Vec<Vec<usize>> = Vec::new();
        let mut floating_index: HashMap<String, usize> = HashMap::new();
        for (pattern, tag) in patterns {
            let id = tags.len();
            let (base, under) = expand_base(&pattern);
            let base_shape = shape(&base);
            let mut globs = vec![];
            match (&base_shape, under) {
                // `PATH/**` of a plain path is the folder itself: nothing to build.
                (Shape::Exact(path), true) => {
                    folders.entry(path.clone()).or_default().under.push(id);
                }
                (_, true) => globs.push([&base, "/**"].concat()),
                (_, false) => {}
            }
            let filed = globs.iter().map(|glob| (glob.as_str(), shape(glob)));
            for (glob, shape) in filed.chain([(base.as_str(), base_shape)]) {
                match shape {
                    Shape::Everything => everything.push(id),
                    Shape::Exact(path) => exact.entry(path).or_default().push(id),
                    Shape::Under(folder) => folders.entry(folder).or_default().under.push(id),
                    Shape::Tail(folder, rest) => match tail_index.get(glob) {
                        Some(&slot) => tails[slot].patterns.push(id),
                        None => {
                            let how = match Simple::parse(rest) {
                                Some(simple) => TailMatch::Simple(simple),
                                None => TailMatch::Glob {
                                    glob: glob.to_string(),
                                    compiled: OnceLock::new(),
                                },
                            };
                            tail_index.insert(glob.to_string(), tails.len());
                            folders.entry(folder).or_default().tails.push(tails.len());
                            tails.push(Tail::new(glob, how, id));
                        }
                    },
                    Shape::Floating => match (tail_index.get(glob), Simple::parse(glob)) {
                        (Some(&slot), _) => tails[slot].patterns.push(id),
                        (None, Some(simple)) => {
                            tail_index.insert(glob.to_string(), tails.len());
                            floating_tails.push(tails.len());
                            tails.push(Tail::new(glob, TailMatch::Simple(simple), id));
                        }
                        (None, None) => {
                            let slot = match floating_index.get(glob) {
                                Some(&slot) => slot,
                                None => {
                                    floating.add(compile(glob)?);
                                    floating_patterns.push(Vec::new());
                                    floating_index
                                        .insert(glob.to_string(), floating_patterns.len() - 1);
                                    floating_patterns.len() - 1
                                }
                            };
                            floating_patterns[slot].push(id);
                        }
                    },
                }
            }
            tags.push(tag);
        }
        Ok(Matcher {
            tags,
            everything,
            exact,
            folders,
            tails,
            floating_tails,
            floating: floating.build()?,
            floating_patterns,
        })
    }

    /// Calls `f` once for every tag whose pattern matches `path` (a repository-relative path), in
    /// the order the patterns were given. `scratch` is reused between calls to avoid allocating.
    pub fn for_each_match(&self, path: &str, scratch: &mut Scratch, mut f: impl FnMut(&T)) {
        let Scratch { patterns, globs } = scratch;
        patterns.clear();
        patterns.extend_from_slice(&self.everything);
        if let Some(ids) = self.exact.get(path) {
            patterns.extend_from_slice(ids);
        }
        if !self.folders.is_empty() {
            // Byte by byte: the paths are short, and a `/` is one byte.
            let slashes = path.bytes().enumerate().filter(|&(_, b)| b == b'/');
            for (i, _) in slashes {
                let Some(folder) = self.folders.get(&path[..i]) else {
                    continue;
                };
                patterns.extend_from_slice(&folder.under);
                let rest = &path[i + 1..];
                for &t in &folder.tails {
                    let tail = &self.tails[t];
                    if tail.is_match(path, rest) {
                        patterns.extend_from_slice(&tail.patterns);
                    }
                }
            }
        }
        for &t in &self.floating_tails {
            let tail = &self.tails[t];
            if tail.is_match(path, path) {
                patterns.extend_from_slice(&tail.patterns);
            }
        }
        if !self.floating_patterns.is_empty() {
            self.floating
                .matches_candidate_into(&Candidate::new(Path::new(path)), globs);
            for &g in globs.iter() {
                patterns.extend_from_slice(&self.floating_patterns[g]);
            }
        }
        patterns.sort_unstable();
        patterns.dedup();
        for &p in patterns.iter() {
            f(&self.tags[p]);
        }
    }
}

#[cfg(test)]
mod tests;
