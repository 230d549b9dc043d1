//! Power loss: put the real directory back to its durable state, under the filesystem's lock, once
//! every process that could write is dead.
//!
//! 1. Every changed directory: each entry that is not in its snapshot (by name and inode) is moved
//!    aside into `.powerfs/stage`.
//! 2. Every changed directory: each snapshot entry that is missing comes back, from the stage or from
//!    the graveyard (files by a new hard link, directories by a rename).
//! 3. Every changed file: the saved durable bytes are written back, the size reset.
//! 4. The bookkeeping directory (stage, graveyard) is removed; syncfs.
//!
//! Directories are reached through the O_PATH descriptors their snapshots hold, so the order in
//! which they move does not matter.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};

use crate::state::{State, BOOKKEEPING};
use crate::sys;

#[derive(Default, Debug)]
pub struct Summary {
    pub bytes: u64,
    pub files: usize,
    pub entries: usize,
    pub problems: Vec<String>,
}

pub fn restore(st: &mut State) -> Summary {
    let mut sum = Summary::default();
    let bk = st.bk.as_raw_fd();
    let stage_name = OsStr::new("stage");
    let _ = sys::remove_tree(bk, stage_name);
    let stage = match sys::mkdirat(bk, stage_name, 0o700)
        .and_then(|_| sys::openat(bk, stage_name, libc::O_PATH | libc::O_DIRECTORY, 0))
    {
        Ok(fd) => fd,
        Err(e) => {
            sum.problems.push(format!("cannot create the stage directory: {}", sys::strerror(e)));
            return sum;
        }
    };
    // Where a spare name of each inode is: (directory fd, name).
    let mut spare: HashMap<u64, (RawFd, OsString)> =
        st.graves.iter().map(|(k, n)| (*k, (bk, n.clone()))).collect();
    let dirty: Vec<u64> = st.dirs.keys().copied().collect();
    let mut n = 0u64;
    for key in &dirty {
        let snap = &st.dirs[key];
        let dfd = snap.fd.as_raw_fd();
        let current = match sys::list_dir(dfd) {
            Ok(c) => c,
            Err(e) => {
                sum.problems.push(format!("cannot list a directory: {}", sys::strerror(e)));
                continue;
            }
        };
        for (name, ino, _) in current {
            if *key == st.root_key && name == BOOKKEEPING {
                continue;
            }
            if snap.entries.get(&name).map(|e| e.0) == Some(ino) {
                continue;
            }
            n += 1;
            let aside = OsString::from(format!("s{n}"));
            match sys::renameat2(dfd, &name, stage.as_raw_fd(), &aside, 0) {
                Ok(()) => {
                    spare.entry(ino).or_insert((stage.as_raw_fd(), aside));
                    sum.entries += 1;
                }
                Err(e) => sum.problems.push(format!("cannot move {:?} aside: {}", name, sys::strerror(e))),
            }
        }
    }
    for key in &dirty {
        let snap = &st.dirs[key];
        let dfd = snap.fd.as_raw_fd();
        for (name, (ino, is_dir)) in &snap.entries {
            if sys::fstatat(dfd, name).map(|s| s.st_ino).ok() == Some(*ino) {
                continue;
            }
            let r = match spare.get(ino) {
                Some((from, from_name)) if *is_dir => {
                    let r = sys::renameat2(*from, from_name, dfd, name, 0);
                    if r.is_ok() {
                        spare.remove(ino);
                    }
                    r
                }
                Some((from, from_name)) => sys::linkat(*from, from_name, dfd, name),
                None if !is_dir => match live_fd(st, *ino) {
                    Some(fd) => sys::link_fd(fd, dfd, name),
                    None => Err(libc::ENOENT),
                },
                None => Err(libc::ENOENT),
            };
            match r {
                Ok(()) => sum.entries += 1,
                Err(e) => sum.problems.push(format!("cannot bring back {:?}: {}", name, sys::strerror(e))),
            }
        }
    }
    for fu in st.files.values() {
        let rfd = fu.fd.as_raw_fd();
        let cur = match sys::fstat(rfd) {
            Ok(s) => s.st_size as u64,
            Err(_) => continue,
        };
        let mut dropped = cur.saturating_sub(fu.size);
        for (off, old) in &fu.saved {
            let now = sys::pread(rfd, old.len(), *off).unwrap_or_default();
            dropped += old.iter().enumerate().filter(|(i, b)| now.get(*i) != Some(*b)).count() as u64;
        }
        if dropped == 0 && cur == fu.size {
            continue;
        }
        let w = match sys::reopen(rfd, libc::O_WRONLY) {
            Ok(w) => w,
            Err(e) => {
                sum.problems.push(format!("cannot reopen a file to restore it: {}", sys::strerror(e)));
                continue;
            }
        };
        let mut r = Ok(());
        for (off, old) in &fu.saved {
            r = r.and_then(|_| sys::pwrite_all(w.as_raw_fd(), old, *off));
        }
        r = r.and_then(|_| sys::ftruncate(w.as_raw_fd(), fu.size));
        let _ = sys::fsync(w.as_raw_fd(), false);
        match r {
            Ok(()) => {
                sum.files += 1;
                sum.bytes += dropped;
            }
            Err(e) => sum.problems.push(format!("cannot restore a file: {}", sys::strerror(e))),
        }
    }
    for snap in st.dirs.values() {
        if let Ok(d) = sys::openat(snap.fd.as_raw_fd(), OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            let _ = sys::fsync(d.as_raw_fd(), false);
        }
    }
    st.files.clear();
    st.dirs.clear();
    st.graves.clear();
    st.refs.clear();
    drop(stage);
    if let Err(e) = sys::remove_tree(st.root.as_raw_fd(), OsStr::new(BOOKKEEPING)) {
        sum.problems.push(format!("cannot remove {BOOKKEEPING}: {}", sys::strerror(e)));
    }
    if let Ok(r) = sys::openat(st.root.as_raw_fd(), OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0) {
        unsafe { libc::syncfs(r.as_raw_fd()) };
    }
    sum
}

/// A descriptor on a live inode, to link it back when it has no spare name.
fn live_fd(st: &State, key: u64) -> Option<RawFd> {
    if let Some(ino) = st.by_key.get(&key) {
        if let Some(node) = st.nodes.get(ino) {
            return Some(node.fd.as_raw_fd());
        }
    }
    st.files.get(&key).map(|f| f.fd.as_raw_fd())
}
