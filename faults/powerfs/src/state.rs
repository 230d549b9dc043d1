//! What powerfs knows: the inodes the kernel holds, the open handles, and the undo log that can put
//! the real directory back to its durable state (docs/powerfs.md has the model).
//!
//! Inodes are keyed by their real inode number (one filesystem under DIR). An inode that a snapshot
//! still names is never freed while powerfs runs: unlink, rmdir and rename-over keep it alive under
//! the bookkeeping directory (`DIR/.powerfs`), so its inode number cannot be reused either.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::{self, R};

pub const BOOKKEEPING: &str = ".powerfs";
pub const ROOT_INO: u64 = 1;

pub struct Node {
    pub fd: OwnedFd, // O_PATH
    pub key: u64,
    pub nlookup: u64,
}

pub struct Handle {
    pub fd: OwnedFd,
    pub key: u64,
    /// Opened with O_SYNC or O_DSYNC: each write is durable once it returns.
    pub sync: bool,
    pub append: bool,
    /// A directory handle's entries, read at opendir: (name, d_ino, d_type).
    pub entries: Vec<(OsString, u64, u8)>,
}

/// A file changed since its last durable point: its durable size and the durable bytes that were
/// overwritten or cut since (each byte saved once, `covered` says which).
pub struct FileUndo {
    pub fd: OwnedFd, // read/write (or read-only) descriptor on the inode
    pub size: u64,
    pub saved: Vec<(u64, Vec<u8>)>,
    pub covered: BTreeMap<u64, u64>,
}

/// A directory changed since its last durable point: its durable entries (name -> (inode, is_dir)).
pub struct DirSnap {
    pub fd: OwnedFd, // O_PATH
    pub entries: HashMap<OsString, (u64, bool)>,
    /// Directories a rename linked to this one since: one transaction, durable together.
    pub coupled: HashSet<u64>,
}

pub struct State {
    pub root: OwnedFd, // O_PATH on DIR, opened before the mount
    pub root_key: u64,
    pub bk: OwnedFd, // O_PATH on DIR/.powerfs
    pub nodes: HashMap<u64, Node>,
    pub by_key: HashMap<u64, u64>,
    pub next_ino: u64,
    pub handles: HashMap<u64, Handle>,
    pub next_fh: u64,
    pub files: HashMap<u64, FileUndo>,
    pub dirs: HashMap<u64, DirSnap>,
    /// How many snapshot entries name each inode.
    pub refs: HashMap<u64, usize>,
    /// Inodes kept alive in the bookkeeping directory: key -> name there.
    pub graves: HashMap<u64, OsString>,
    pub next_grave: u64,
    /// Power loss has begun: every request fails with EIO.
    pub dead: bool,
    pub log: bool,
    /// POWERFS_MODEL=ext4: every fsync commits every directory's entries, as an ext4 journal commit.
    pub journal: bool,
}

impl State {
    pub fn new(root: OwnedFd, bk: OwnedFd, log: bool, journal: bool) -> R<State> {
        let st = sys::fstat(root.as_raw_fd())?;
        let root_dup = sys::dup(root.as_raw_fd())?;
        let mut s = State {
            root,
            root_key: st.st_ino,
            bk,
            nodes: HashMap::new(),
            by_key: HashMap::new(),
            next_ino: ROOT_INO + 1,
            handles: HashMap::new(),
            next_fh: 1,
            files: HashMap::new(),
            dirs: HashMap::new(),
            refs: HashMap::new(),
            graves: HashMap::new(),
            next_grave: 0,
            dead: false,
            log,
            journal,
        };
        s.nodes.insert(ROOT_INO, Node { fd: root_dup, key: st.st_ino, nlookup: 1 });
        s.by_key.insert(st.st_ino, ROOT_INO);
        Ok(s)
    }

    pub fn node_fd(&self, ino: u64) -> R<RawFd> {
        self.nodes.get(&ino).map(|n| n.fd.as_raw_fd()).ok_or(libc::ESTALE)
    }

    pub fn node_key(&self, ino: u64) -> R<u64> {
        self.nodes.get(&ino).map(|n| n.key).ok_or(libc::ESTALE)
    }

    /// The bookkeeping directory is not part of the filesystem's view.
    pub fn hidden(&self, parent: u64, name: &OsStr) -> bool {
        parent == ROOT_INO && name == BOOKKEEPING
    }

    /// Looks `name` up under `parent` and returns (fuse ino, stat), counting one kernel reference.
    pub fn lookup(&mut self, parent: u64, name: &OsStr) -> R<(u64, libc::stat)> {
        if self.hidden(parent, name) {
            return Err(libc::ENOENT);
        }
        let pfd = self.node_fd(parent)?;
        let st = sys::fstatat(pfd, name)?;
        if let Some(&ino) = self.by_key.get(&st.st_ino) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.nlookup += 1;
                return Ok((ino, st));
            }
        }
        let fd = sys::openat(pfd, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        let st = sys::fstat(fd.as_raw_fd())?;
        if let Some(&ino) = self.by_key.get(&st.st_ino) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.nlookup += 1;
                return Ok((ino, st));
            }
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, Node { fd, key: st.st_ino, nlookup: 1 });
        self.by_key.insert(st.st_ino, ino);
        Ok((ino, st))
    }

    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let gone = match self.nodes.get_mut(&ino) {
            Some(node) => {
                node.nlookup = node.nlookup.saturating_sub(n);
                node.nlookup == 0
            }
            None => false,
        };
        if gone {
            if let Some(node) = self.nodes.remove(&ino) {
                if self.by_key.get(&node.key) == Some(&ino) {
                    self.by_key.remove(&node.key);
                }
            }
        }
    }

    pub fn add_handle(&mut self, h: Handle) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, h);
        fh
    }

    // ----- file data -----

    /// Starts the undo record of a file at its first change since its durable point.
    pub fn touch_file(&mut self, key: u64, fd: RawFd) -> R<()> {
        if self.files.contains_key(&key) {
            return Ok(());
        }
        let rw = match sys::reopen(fd, libc::O_RDWR) {
            Ok(f) => f,
            Err(_) => sys::reopen(fd, libc::O_RDONLY)?,
        };
        let st = sys::fstat(rw.as_raw_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(());
        }
        self.files.insert(key, FileUndo { fd: rw, size: st.st_size as u64, saved: Vec::new(), covered: BTreeMap::new() });
        Ok(())
    }

    /// Saves the durable bytes of [off, end) that are about to change (below the durable size only,
    /// each byte once).
    pub fn save_range(&mut self, key: u64, off: u64, end: u64) -> R<()> {
        let Some(fu) = self.files.get_mut(&key) else { return Ok(()) };
        let end = end.min(fu.size);
        if off >= end {
            return Ok(());
        }
        for (a, b) in gaps(&fu.covered, off, end) {
            let old = sys::pread(fu.fd.as_raw_fd(), (b - a) as usize, a)?;
            if !old.is_empty() {
                fu.saved.push((a, old));
            }
            cover(&mut fu.covered, a, b);
        }
        Ok(())
    }

    /// The file's data is durable as it is now (in the ext4 model, every directory's entries too).
    pub fn file_durable(&mut self, key: u64) {
        self.files.remove(&key);
        if self.journal && !self.dirs.is_empty() {
            self.dir_durable(key);
        }
    }

    // ----- directory entries -----

    /// Snapshots a directory's entries at its first change since its durable point.
    pub fn touch_dir(&mut self, key: u64, fd: RawFd) -> R<()> {
        if self.dirs.contains_key(&key) {
            return Ok(());
        }
        let mut entries = HashMap::new();
        for (name, ino, dtype) in sys::list_dir(fd)? {
            if key == self.root_key && name == BOOKKEEPING {
                continue;
            }
            let is_dir = if dtype == libc::DT_UNKNOWN {
                sys::fstatat(fd, &name).map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(false)
            } else {
                dtype == libc::DT_DIR
            };
            *self.refs.entry(ino).or_insert(0) += 1;
            entries.insert(name, (ino, is_dir));
        }
        let snap = DirSnap { fd: sys::dup(fd)?, entries, coupled: HashSet::new() };
        self.dirs.insert(key, snap);
        Ok(())
    }

    pub fn couple(&mut self, a: u64, b: u64) {
        if a == b {
            return;
        }
        if let Some(s) = self.dirs.get_mut(&a) {
            s.coupled.insert(b);
        }
        if let Some(s) = self.dirs.get_mut(&b) {
            s.coupled.insert(a);
        }
    }

    pub fn referenced(&self, key: u64) -> bool {
        self.refs.get(&key).copied().unwrap_or(0) > 0
    }

    /// A directory's entries are durable as they are now (with every directory a rename coupled to
    /// it; in the ext4 model every directory); bookkeeping no snapshot names any more is freed.
    pub fn dir_durable(&mut self, key: u64) {
        let mut todo = if self.journal { self.dirs.keys().copied().collect() } else { vec![key] };
        while let Some(k) = todo.pop() {
            if let Some(snap) = self.dirs.remove(&k) {
                for (ino, _) in snap.entries.values() {
                    if let Some(c) = self.refs.get_mut(ino) {
                        *c -= 1;
                        if *c == 0 {
                            self.refs.remove(ino);
                        }
                    }
                }
                todo.extend(snap.coupled);
            }
        }
        let free: Vec<u64> = self.graves.keys().copied().filter(|k| !self.referenced(*k)).collect();
        for k in free {
            if let Some(name) = self.graves.remove(&k) {
                let _ = sys::remove_tree(self.bk.as_raw_fd(), &name);
            }
        }
    }

    /// Keeps the inode named `name` under `dir` alive in the bookkeeping directory (a hard link;
    /// directories are moved there instead, see `bury_dir`).
    pub fn bury_link(&mut self, key: u64, dir: RawFd, name: &OsStr) -> R<()> {
        if self.graves.contains_key(&key) {
            return Ok(());
        }
        let g = self.grave_name();
        sys::linkat(dir, name, self.bk.as_raw_fd(), &g)?;
        self.graves.insert(key, g);
        Ok(())
    }

    pub fn bury_dir(&mut self, key: u64, dir: RawFd, name: &OsStr) -> R<OsString> {
        let g = self.grave_name();
        sys::renameat2(dir, name, self.bk.as_raw_fd(), &g, 0)?;
        self.graves.insert(key, g.clone());
        Ok(g)
    }

    fn grave_name(&mut self) -> OsString {
        self.next_grave += 1;
        OsString::from(format!("g{}", self.next_grave))
    }
}

/// The parts of [a, b) not in `cov` (sorted, disjoint intervals start -> end).
pub fn gaps(cov: &BTreeMap<u64, u64>, a: u64, b: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut cur = a;
    let first = cov.range(..=a).next_back().map(|(s, _)| *s).unwrap_or(a);
    for (&s, &e) in cov.range(first..b) {
        if e <= cur {
            continue;
        }
        if s > cur {
            out.push((cur, s.min(b)));
        }
        cur = cur.max(e);
        if cur >= b {
            break;
        }
    }
    if cur < b {
        out.push((cur, b));
    }
    out
}

/// Adds [a, b) to `cov`, merging what it touches.
pub fn cover(cov: &mut BTreeMap<u64, u64>, a: u64, b: u64) {
    let (mut s, mut e) = (a, b);
    let touching: Vec<(u64, u64)> = cov
        .range(..=b)
        .filter(|(&x, &y)| y >= a && x <= b)
        .map(|(&x, &y)| (x, y))
        .collect();
    for (x, y) in touching {
        cov.remove(&x);
        s = s.min(x);
        e = e.max(y);
    }
    cov.insert(s, e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_cover() {
        let mut cov = BTreeMap::new();
        assert_eq!(gaps(&cov, 0, 10), vec![(0, 10)]);
        cover(&mut cov, 2, 4);
        cover(&mut cov, 6, 8);
        assert_eq!(gaps(&cov, 0, 10), vec![(0, 2), (4, 6), (8, 10)]);
        assert_eq!(gaps(&cov, 3, 7), vec![(4, 6)]);
        assert_eq!(gaps(&cov, 2, 4), vec![]);
        cover(&mut cov, 4, 6);
        assert_eq!(cov.len(), 1);
        assert_eq!(gaps(&cov, 0, 10), vec![(0, 2), (8, 10)]);
    }
}
