//! The paths two trees differ in, found as git finds them: each tree's raw entries are read from
//! the object store and walked side by side in git's order, and a folder whose id is the same on
//! both sides is never opened.
//!
//! No `git2::Tree` is built: on a diff of thousands of files, parsing each tree into libgit2's
//! entry objects and matching names through a hash map was a third of the work, beside inflating
//! the trees, which nobody avoids.

use std::cmp::Ordering;

use git2::{ObjectType, Odb, OdbObject, Oid};

use super::GitError;

/// What git writes for a tree entry that is a folder (`mode & S_IFMT`).
const FOLDER: u32 = 0o040000;
const SUBMODULE: u32 = 0o160000;
const FORMAT: u32 = 0o170000;

/// Every path that differs between two trees, unsorted: added, deleted and modified files, mode
/// and type changes, submodule pointer moves. Each path once. With `keep`, also the new side's
/// trees that the walk read, raw, by folder (no trailing `/`; `""` is the root).
pub(super) fn changed_paths(
    odb: &Odb<'_>,
    old: Oid,
    new: Oid,
    keep: bool,
) -> Result<(Vec<String>, Kept), GitError> {
    let mut walk = Walk {
        odb,
        path: String::new(),
        out: Vec::new(),
        kept: keep.then(Kept::default),
    };
    let (old, new) = (walk.read(old)?, walk.read(new)?);
    walk.keep(&new);
    walk.diff(&old, &new)?;
    Ok((walk.out, walk.kept.unwrap_or_default()))
}

/// Raw trees by folder (no trailing `/`; `""` is the root).
pub(super) type Kept = foldhash::HashMap<String, Vec<u8>>;

/// The entries of a raw tree by name, each with its id and mode.
pub(super) fn by_name(data: &[u8]) -> Result<foldhash::HashMap<&[u8], (Oid, u32)>, GitError> {
    let entries = entries(data).map_err(|why| {
        GitError::Other(git2::Error::from_str(&format!(
            "a tree cannot be read: {why}"
        )))
    })?;
    Ok(entries
        .into_iter()
        .map(|e| (e.name, (e.id, e.mode)))
        .collect())
}

/// What an entry of `mode` names, as libgit2 says it.
pub(super) fn kind(mode: u32) -> ObjectType {
    match mode & FORMAT {
        FOLDER => ObjectType::Tree,
        SUBMODULE => ObjectType::Commit,
        _ => ObjectType::Blob,
    }
}

/// One entry of a raw tree: `<octal mode> <name>\0<20-byte id>`.
struct Entry<'a> {
    mode: u32,
    name: &'a [u8],
    id: Oid,
}

impl Entry<'_> {
    fn is_folder(&self) -> bool {
        self.mode & FORMAT == FOLDER
    }
}

/// What is wrong with a tree's data.
#[derive(Debug, thiserror::Error)]
enum BadTree {
    #[error("an entry has no mode")]
    NoMode,
    #[error("an entry has a mode that is not octal")]
    ModeNotOctal,
    #[error("an entry has no end")]
    NoEnd,
    #[error("an entry's id is cut short")]
    IdCutShort,
    #[error("{}", .0.message())]
    Id(git2::Error),
}

/// The entries of a tree's data, in the order git stores them.
fn entries(data: &[u8]) -> Result<Vec<Entry<'_>>, BadTree> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or(BadTree::NoMode)?;
        let mode = rest[..space]
            .iter()
            .try_fold(0u32, |m, &b| match b {
                b'0'..=b'7' if m < 1 << 24 => Some(m * 8 + u32::from(b - b'0')),
                _ => None,
            })
            .ok_or(BadTree::ModeNotOctal)?;
        let after = &rest[space + 1..];
        let nul = after.iter().position(|&b| b == 0).ok_or(BadTree::NoEnd)?;
        let id = after.get(nul + 1..nul + 21).ok_or(BadTree::IdCutShort)?;
        out.push(Entry {
            mode,
            name: &after[..nul],
            id: Oid::from_bytes(id).map_err(BadTree::Id)?,
        });
        rest = &after[nul + 21..];
    }
    Ok(out)
}

/// Git's order of tree entries: by name, a folder's name as if it ended in `/`.
fn git_order(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    let n = a.name.len().min(b.name.len());
    let end = |e: &Entry<'_>| if e.is_folder() { b'/' } else { 0 };
    a.name[..n].cmp(&b.name[..n]).then_with(|| {
        let next_a = a.name.get(n).copied().unwrap_or_else(|| end(a));
        let next_b = b.name.get(n).copied().unwrap_or_else(|| end(b));
        next_a.cmp(&next_b)
    })
}

struct Walk<'o, 'r> {
    odb: &'o Odb<'r>,
    /// The folder being walked, with a trailing `/` (empty at the root).
    path: String,
    out: Vec<String>,
    /// The new side's trees read, when they are wanted.
    kept: Option<Kept>,
}

impl<'o, 'r> Walk<'o, 'r> {
    fn read(&self, id: Oid) -> Result<OdbObject<'o>, GitError> {
        let object = self.odb.read(id).map_err(|e| GitError::MissingObject {
            oid: id.to_string(),
            cause: e,
        })?;
        match object.kind() {
            ObjectType::Tree => Ok(object),
            kind => Err(self.corrupt(id, &format!("it is a {kind}, not a tree"))),
        }
    }

    /// Keeps `tree`, the new side's at the folder being walked, when trees are kept.
    fn keep(&mut self, tree: &OdbObject<'_>) {
        if let Some(kept) = &mut self.kept {
            let folder = self.path.strip_suffix('/').unwrap_or(&self.path);
            kept.insert(folder.to_string(), tree.data().to_vec());
        }
    }

    fn corrupt(&self, id: Oid, why: &dyn std::fmt::Display) -> GitError {
        let at = match self.path.is_empty() {
            true => "the root".to_string(),
            false => self.path.trim_end_matches('/').to_string(),
        };
        GitError::Other(git2::Error::from_str(&format!(
            "the tree {id} of {at} cannot be read: {why}"
        )))
    }

    fn entries<'d>(&self, id: Oid, data: &'d [u8]) -> Result<Vec<Entry<'d>>, GitError> {
        entries(data).map_err(|why| self.corrupt(id, &why))
    }

    /// The two trees' entries side by side: what only one side has is added or deleted whole, a
    /// folder on both sides with different ids is walked into, a file whose id or mode changed is
    /// one path.
    fn diff(&mut self, old: &OdbObject<'_>, new: &OdbObject<'_>) -> Result<(), GitError> {
        let old = self.entries(old.id(), old.data())?;
        let new = self.entries(new.id(), new.data())?;
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) => git_order(a, b),
                (Some(_), None) => Ordering::Less,
                (None, _) => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    self.all(&old[i])?;
                    i += 1;
                }
                Ordering::Greater => {
                    self.all(&new[j])?;
                    j += 1;
                }
                Ordering::Equal => {
                    let (a, b) = (&old[i], &new[j]);
                    if a.id != b.id || a.mode != b.mode {
                        let len = self.enter(b.name);
                        if b.is_folder() {
                            self.path.push('/');
                            let (before, after) = (self.read(a.id)?, self.read(b.id)?);
                            self.keep(&after);
                            self.diff(&before, &after)?;
                        } else {
                            self.out.push(self.path.clone());
                        }
                        self.path.truncate(len);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    }

    /// `entry` itself, or every file under it when it is a folder.
    fn all(&mut self, entry: &Entry<'_>) -> Result<(), GitError> {
        let len = self.enter(entry.name);
        if entry.is_folder() {
            self.path.push('/');
            let tree = self.read(entry.id)?;
            for inner in self.entries(entry.id, tree.data())? {
                self.all(&inner)?;
            }
        } else {
            self.out.push(self.path.clone());
        }
        self.path.truncate(len);
        Ok(())
    }

    /// Appends `name` to the path; returns the length to truncate back to.
    fn enter(&mut self, name: &[u8]) -> usize {
        let len = self.path.len();
        self.path.push_str(&String::from_utf8_lossy(name));
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(entries: &[(&str, &str, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (mode, name, id) in entries {
            out.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            out.extend_from_slice(&[*id; 20]);
        }
        out
    }

    #[test]
    fn entries_are_read_with_their_modes() {
        let data = raw(&[
            ("100644", "a.txt", 1),
            ("40000", "src", 2),
            ("160000", "sub", 3),
        ]);
        let parsed = entries(&data).unwrap();
        let seen: Vec<_> = parsed
            .iter()
            .map(|e| {
                (
                    e.mode,
                    String::from_utf8_lossy(e.name).into_owned(),
                    e.is_folder(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (0o100644, "a.txt".to_string(), false),
                (0o040000, "src".to_string(), true),
                (0o160000, "sub".to_string(), false),
            ]
        );
        assert_eq!(parsed[1].id, Oid::from_bytes(&[2; 20]).unwrap());
    }

    #[test]
    fn a_cut_or_garbled_tree_is_an_error_not_a_panic() {
        let data = raw(&[("100644", "a.txt", 1)]);
        for cut in 0..data.len() {
            if cut > 0 {
                assert!(entries(&data[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(entries(b"10x644 a\0aaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(entries(b"77777777777777777777 a\0aaaaaaaaaaaaaaaaaaaa").is_err());
    }

    #[test]
    fn a_folder_sorts_as_if_its_name_ended_in_a_slash() {
        // git stores `a.txt` (file), `a` (folder, as `a/`), `a0` in this order: '.' < '/' < '0'.
        let data = raw(&[
            ("100644", "a.txt", 1),
            ("40000", "a", 2),
            ("100644", "a0", 3),
        ]);
        let e = entries(&data).unwrap();
        assert_eq!(git_order(&e[0], &e[1]), Ordering::Less);
        assert_eq!(git_order(&e[1], &e[2]), Ordering::Less);
        // The same name as a file and as a folder are two entries: a type change is both.
        let file = raw(&[("100644", "a", 1)]);
        let file = entries(&file).unwrap();
        assert_eq!(git_order(&file[0], &e[1]), Ordering::Less);
    }
}
