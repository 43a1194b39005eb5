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

/// A raw tree's entries, in git's order, for [`Listing::get`].
pub(super) struct Listing<'a>(Vec<Entry<'a>>);

impl<'a> Listing<'a> {
    pub(super) fn new(data: &'a [u8]) -> Result<Listing<'a>, GitError> {
        let entries = entries(data).map_err(|why| {
            GitError::Other(git2::Error::from_str(&format!(
                "a tree cannot be read: {why}"
            )))
        })?;
        Ok(Listing(entries))
    }

    /// The entry `name` (a file's or a folder's: git sorts a folder as if its name ended in
    /// `/`), with its id and mode.
    pub(super) fn get(&self, name: &[u8]) -> Option<(Oid, u32)> {
        let find = |mode| {
            let wanted = Entry {
                mode,
                name,
                id: &[0; 20],
            };
            self.0.binary_search_by(|e| git_order(e, &wanted)).ok()
        };
        let e = &self.0[find(0o100644).or_else(|| find(FOLDER))?];
        Some((e.oid().ok()?, e.mode))
    }
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
    /// The raw id: compared as bytes, made an [`Oid`] only for what is read.
    id: &'a [u8; 20],
}

impl Entry<'_> {
    fn is_folder(&self) -> bool {
        self.mode & FORMAT == FOLDER
    }

    fn oid(&self) -> Result<Oid, BadTree> {
        Oid::from_bytes(self.id).map_err(BadTree::Id)
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
    Entries(data).collect()
}

/// The entries of a tree's data one by one, in the order git stores them: a walk reads them
/// where they are, into no list.
struct Entries<'a>(&'a [u8]);

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, BadTree>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let next = entry(self.0);
        // Nothing more after a broken entry.
        self.0 = next.as_ref().map_or(&[], |(_, rest)| rest);
        Some(next.map(|(entry, _)| entry))
    }
}

/// The first entry of a tree's data, and the data after it.
fn entry(data: &[u8]) -> Result<(Entry<'_>, &[u8]), BadTree> {
    let space = data
        .iter()
        .position(|&b| b == b' ')
        .ok_or(BadTree::NoMode)?;
    let mode = data[..space]
        .iter()
        .try_fold(0u32, |m, &b| match b {
            b'0'..=b'7' if m < 1 << 24 => Some(m * 8 + u32::from(b - b'0')),
            _ => None,
        })
        .ok_or(BadTree::ModeNotOctal)?;
    let after = &data[space + 1..];
    let nul = after.iter().position(|&b| b == 0).ok_or(BadTree::NoEnd)?;
    let id = after.get(nul + 1..nul + 21).ok_or(BadTree::IdCutShort)?;
    let entry = Entry {
        mode,
        name: &after[..nul],
        id: id.try_into().map_err(|_| BadTree::IdCutShort)?,
    };
    Ok((entry, &after[nul + 21..]))
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

    /// The next of a tree's entries, if any.
    fn next<'d>(
        &self,
        tree: Oid,
        entries: &mut Entries<'d>,
    ) -> Result<Option<Entry<'d>>, GitError> {
        entries
            .next()
            .transpose()
            .map_err(|why| self.corrupt(tree, &why))
    }

    /// The tree an entry names, read.
    fn read_entry(&self, tree: Oid, entry: &Entry<'_>) -> Result<OdbObject<'o>, GitError> {
        let id = entry.oid().map_err(|why| self.corrupt(tree, &why))?;
        self.read(id)
    }

    /// The two trees' entries side by side: what only one side has is added or deleted whole, a
    /// folder on both sides with different ids is walked into, a file whose id or mode changed is
    /// one path.
    fn diff(&mut self, old: &OdbObject<'_>, new: &OdbObject<'_>) -> Result<(), GitError> {
        let (old_id, new_id) = (old.id(), new.id());
        let (mut olds, mut news) = (Entries(old.data()), Entries(new.data()));
        let (mut a, mut b) = (self.next(old_id, &mut olds)?, self.next(new_id, &mut news)?);
        loop {
            let order = match (&a, &b) {
                (Some(a), Some(b)) => git_order(a, b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => return Ok(()),
            };
            // Less comes with an old entry, Greater with a new one, Equal with both.
            match order {
                Ordering::Less => {
                    if let Some(old) = &a {
                        self.all(old_id, old)?;
                    }
                    a = self.next(old_id, &mut olds)?;
                }
                Ordering::Greater => {
                    if let Some(new) = &b {
                        self.all(new_id, new)?;
                    }
                    b = self.next(new_id, &mut news)?;
                }
                Ordering::Equal => {
                    if let (Some(old), Some(new)) = (&a, &b)
                        && (old.id != new.id || old.mode != new.mode)
                    {
                        let len = self.enter(new.name);
                        if new.is_folder() {
                            self.path.push('/');
                            let before = self.read_entry(old_id, old)?;
                            let after = self.read_entry(new_id, new)?;
                            self.keep(&after);
                            self.diff(&before, &after)?;
                        } else {
                            self.out.push(self.path.clone());
                        }
                        self.path.truncate(len);
                    }
                    a = self.next(old_id, &mut olds)?;
                    b = self.next(new_id, &mut news)?;
                }
            }
        }
    }

    /// `entry` (of the tree `parent`) itself, or every file under it when it is a folder.
    fn all(&mut self, parent: Oid, entry: &Entry<'_>) -> Result<(), GitError> {
        let len = self.enter(entry.name);
        if entry.is_folder() {
            self.path.push('/');
            let tree = self.read_entry(parent, entry)?;
            let mut inner = Entries(tree.data());
            while let Some(e) = self.next(tree.id(), &mut inner)? {
                self.all(tree.id(), &e)?;
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
        assert_eq!(parsed[1].oid().unwrap(), Oid::from_bytes(&[2; 20]).unwrap());
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
