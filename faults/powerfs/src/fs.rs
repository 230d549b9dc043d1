//! The FUSE operations: pass-through to the real directory, with undo records taken before every
//! change that is not yet durable (state.rs). One lock over everything but the disk syncs; power loss
//! takes it too. Several FUSE worker threads, so one node's fsync does not stall its other requests.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::state::{Handle, State};
use crate::sys::{self, R};

const TTL: Duration = Duration::from_secs(1);

pub struct PowerFs {
    pub state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn err(e: i32) -> Errno {
    Errno::from_i32(e)
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

fn kind(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn dtype_kind(d: u8) -> FileType {
    match d {
        libc::DT_DIR => FileType::Directory,
        libc::DT_LNK => FileType::Symlink,
        libc::DT_FIFO => FileType::NamedPipe,
        libc::DT_SOCK => FileType::Socket,
        libc::DT_CHR => FileType::CharDevice,
        libc::DT_BLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn attr(ino: u64, s: &libc::stat) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: s.st_size as u64,
        blocks: s.st_blocks as u64,
        atime: time(s.st_atime, s.st_atime_nsec),
        mtime: time(s.st_mtime, s.st_mtime_nsec),
        ctime: time(s.st_ctime, s.st_ctime_nsec),
        crtime: UNIX_EPOCH,
        kind: kind(s.st_mode),
        perm: (s.st_mode & 0o7777) as u16,
        nlink: s.st_nlink as u32,
        uid: s.st_uid,
        gid: s.st_gid,
        rdev: s.st_rdev as u32,
        blksize: s.st_blksize as u32,
        flags: 0,
    }
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
        Some(TimeOrNow::Now) => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_NOW },
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => libc::timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 },
            Err(e) => libc::timespec { tv_sec: -(e.duration().as_secs() as i64), tv_nsec: 0 },
        },
    }
}

impl PowerFs {
    /// Runs `f` under the lock, unless power loss has begun (EIO then).
    fn with<T>(&self, op: &str, f: impl FnOnce(&mut State) -> R<T>) -> R<T> {
        let mut st = lock(&self.state);
        if st.dead {
            return Err(libc::EIO);
        }
        let r = f(&mut st);
        if st.log {
            if let Err(e) = &r {
                eprintln!("powerfs: {op}: {}", sys::strerror(*e));
            }
        }
        r
    }
}

/// Owner of a new inode: the caller, but the group of a set-group-ID parent.
fn owner(st: &State, req: &Request, parent_fd: RawFd) -> (u32, u32) {
    let gid = match sys::fstat(parent_fd) {
        Ok(p) if p.st_mode & libc::S_ISGID != 0 => p.st_gid,
        _ => req.gid(),
    };
    let _ = st;
    (req.uid(), gid)
}

/// Prepares a directory change: snapshot the parent's durable entries first.
fn dir_change(st: &mut State, parent: u64, name: &OsStr) -> R<RawFd> {
    if st.hidden(parent, name) {
        return Err(libc::EPERM);
    }
    let pfd = st.node_fd(parent)?;
    let key = st.node_key(parent)?;
    st.touch_dir(key, pfd)?;
    Ok(pfd)
}

/// Truncation of a file (by setattr or O_TRUNC) to `size`: save the durable bytes it cuts.
fn before_truncate(st: &mut State, key: u64, fd: RawFd, size: u64) -> R<()> {
    st.touch_file(key, fd)?;
    st.save_range(key, size, u64::MAX)
}

fn open_real(st: &mut State, ino: u64, flags: i32) -> R<(u64, FopenFlags)> {
    let fd = st.node_fd(ino)?;
    let key = st.node_key(ino)?;
    let mut real = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_DIRECT | libc::O_TRUNC);
    if flags & libc::O_TRUNC != 0 && flags & libc::O_ACCMODE != libc::O_RDONLY {
        before_truncate(st, key, fd, 0)?;
        real |= libc::O_TRUNC;
    }
    let file = sys::reopen(fd, real & !libc::O_NOFOLLOW)?;
    let h = Handle {
        fd: file,
        key,
        sync: flags & libc::O_DSYNC != 0,
        append: flags & libc::O_APPEND != 0,
        entries: Vec::new(),
    };
    Ok((st.add_handle(h), FopenFlags::empty()))
}

impl Filesystem for PowerFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.with("lookup", |st| st.lookup(parent.0, name)) {
            Ok((ino, s)) => reply.entry(&TTL, &attr(ino, &s), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        lock(&self.state).forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.with("getattr", |st| sys::fstat(st.node_fd(ino.0)?)) {
            Ok(s) => reply.attr(&TTL, &attr(ino.0, &s)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = self.with("setattr", |st| {
            let fd = st.node_fd(ino.0)?;
            let key = st.node_key(ino.0)?;
            if let Some(m) = mode {
                sys::chmod_fd(fd, m & 0o7777)?;
            }
            if uid.is_some() || gid.is_some() {
                sys::chown_fd(fd, uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX))?;
            }
            if let Some(sz) = size {
                before_truncate(st, key, fd, sz)?;
                match fh.and_then(|h| st.handles.get(&h.0)) {
                    Some(h) => sys::ftruncate(h.fd.as_raw_fd(), sz)?,
                    None => {
                        let w = sys::reopen(fd, libc::O_WRONLY)?;
                        sys::ftruncate(w.as_raw_fd(), sz)?;
                    }
                }
            }
            if atime.is_some() || mtime.is_some() {
                let s = sys::fstat(fd)?;
                if s.st_mode & libc::S_IFMT != libc::S_IFLNK {
                    sys::utimens_fd(fd, &[timespec(atime), timespec(mtime)])?;
                }
            }
            sys::fstat(fd)
        });
        match r {
            Ok(s) => reply.attr(&TTL, &attr(ino.0, &s)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.with("readlink", |st| sys::readlink_fd(st.node_fd(ino.0)?)) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(err(e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let r = self.with("mknod", |st| {
            let pfd = dir_change(st, parent.0, name)?;
            sys::mknodat(pfd, name, mode, rdev as u64)?;
            let (u, g) = owner(st, req, pfd);
            sys::fchownat(pfd, name, u, g)?;
            st.lookup(parent.0, name)
        });
        match r {
            Ok((ino, s)) => reply.entry(&TTL, &attr(ino, &s), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, _umask: u32, reply: ReplyEntry) {
        let r = self.with("mkdir", |st| {
            let pfd = dir_change(st, parent.0, name)?;
            sys::mkdirat(pfd, name, mode)?;
            let (u, g) = owner(st, req, pfd);
            sys::fchownat(pfd, name, u, g)?;
            st.lookup(parent.0, name)
        });
        match r {
            Ok((ino, s)) => reply.entry(&TTL, &attr(ino, &s), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self.with("unlink", |st| {
            if st.hidden(parent.0, name) {
                return Err(libc::ENOENT);
            }
            let pfd = dir_change(st, parent.0, name)?;
            let s = sys::fstatat(pfd, name)?;
            if s.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return Err(libc::EISDIR);
            }
            if st.referenced(s.st_ino) {
                st.bury_link(s.st_ino, pfd, name)?;
            }
            sys::unlinkat(pfd, name, 0)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self.with("rmdir", |st| {
            if st.hidden(parent.0, name) {
                return Err(libc::ENOENT);
            }
            let pfd = dir_change(st, parent.0, name)?;
            let s = sys::fstatat(pfd, name)?;
            if s.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(libc::ENOTDIR);
            }
            if st.referenced(s.st_ino) || st.dirs.contains_key(&s.st_ino) {
                let d = sys::openat(pfd, name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
                if !sys::list_dir(d.as_raw_fd())?.is_empty() {
                    return Err(libc::ENOTEMPTY);
                }
                st.bury_dir(s.st_ino, pfd, name).map(|_| ())
            } else {
                sys::unlinkat(pfd, name, libc::AT_REMOVEDIR)
            }
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn symlink(&self, req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        let r = self.with("symlink", |st| {
            let pfd = dir_change(st, parent.0, link_name)?;
            sys::symlinkat(target.as_os_str(), pfd, link_name)?;
            let (u, g) = owner(st, req, pfd);
            sys::fchownat(pfd, link_name, u, g)?;
            st.lookup(parent.0, link_name)
        });
        match r {
            Ok((ino, s)) => reply.entry(&TTL, &attr(ino, &s), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = self.with("rename", |st| {
            if st.hidden(parent.0, name) {
                return Err(libc::ENOENT);
            }
            let pfd = dir_change(st, parent.0, name)?;
            let npfd = dir_change(st, newparent.0, newname)?;
            let (pk, npk) = (st.node_key(parent.0)?, st.node_key(newparent.0)?);
            st.couple(pk, npk);
            let bits = flags.bits();
            let src = sys::fstatat(pfd, name)?;
            if bits & libc::RENAME_EXCHANGE != 0 || bits & libc::RENAME_NOREPLACE != 0 {
                return sys::renameat2(pfd, name, npfd, newname, bits);
            }
            let dst = match sys::fstatat(npfd, newname) {
                Ok(d) => Some(d),
                Err(libc::ENOENT) => None,
                Err(e) => return Err(e),
            };
            let Some(dst) = dst else { return sys::renameat2(pfd, name, npfd, newname, bits) };
            if dst.st_ino == src.st_ino || !st.referenced(dst.st_ino) {
                return sys::renameat2(pfd, name, npfd, newname, bits);
            }
            let src_dir = src.st_mode & libc::S_IFMT == libc::S_IFDIR;
            let dst_dir = dst.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if dst_dir {
                if !src_dir {
                    return Err(libc::EISDIR);
                }
                let d = sys::openat(npfd, newname, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
                if !sys::list_dir(d.as_raw_fd())?.is_empty() {
                    return Err(libc::ENOTEMPTY);
                }
                let g = st.bury_dir(dst.st_ino, npfd, newname)?;
                if let Err(e) = sys::renameat2(pfd, name, npfd, newname, bits) {
                    let _ = sys::renameat2(st.bk.as_raw_fd(), &g, npfd, newname, 0);
                    st.graves.remove(&dst.st_ino);
                    return Err(e);
                }
                Ok(())
            } else {
                if src_dir {
                    return Err(libc::ENOTDIR);
                }
                st.bury_link(dst.st_ino, npfd, newname)?;
                sys::renameat2(pfd, name, npfd, newname, bits)
            }
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        let r = self.with("link", |st| {
            let npfd = dir_change(st, newparent.0, newname)?;
            sys::link_fd(st.node_fd(ino.0)?, npfd, newname)?;
            st.lookup(newparent.0, newname)
        });
        match r {
            Ok((ino, s)) => reply.entry(&TTL, &attr(ino, &s), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.with("open", |st| open_real(st, ino.0, flags.0)) {
            Ok((fh, f)) => reply.opened(FileHandle(fh), f),
            Err(e) => reply.error(err(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.with("read", |st| {
            let h = st.handles.get(&fh.0).ok_or(libc::EBADF)?;
            sys::pread(h.fd.as_raw_fd(), size as usize, offset)
        });
        match r {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(err(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = self.with("write", |st| {
            let h = st.handles.get(&fh.0).ok_or(libc::EBADF)?;
            let (fd, key, sync) = (h.fd.as_raw_fd(), h.key, h.sync);
            let off = if h.append { sys::fstat(fd)?.st_size as u64 } else { offset };
            if !sync {
                st.touch_file(key, fd)?;
                st.save_range(key, off, off + data.len() as u64)?;
            }
            sys::pwrite_all(fd, data, off)?;
            if !sync {
                return Ok(None);
            }
            // O_SYNC/O_DSYNC: durable from now on; the disk sync itself runs outside the lock.
            st.file_durable(key);
            Ok(Some(sys::dup(fd)?))
        });
        let r = r.and_then(|sync_fd| match sync_fd {
            Some(fd) => sys::fsync(fd.as_raw_fd(), true),
            None => Ok(()),
        });
        let r = r.map(|()| data.len() as u32);
        match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(err(e)),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.state).handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, datasync: bool, reply: ReplyEmpty) {
        // The undo record goes when the fsync starts and the disk sync runs outside the lock (other
        // requests go on meanwhile): a power loss during an fsync that has not returned may keep
        // the data, as a real disk may.
        let r = self.with("fsync", |st| {
            let h = st.handles.get(&fh.0).ok_or(libc::EBADF)?;
            let (key, fd) = (h.key, sys::dup(h.fd.as_raw_fd())?);
            st.file_durable(key);
            Ok(fd)
        });
        let r = r.and_then(|fd| sys::fsync(fd.as_raw_fd(), datasync));
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self.with("opendir", |st| {
            let fd = st.node_fd(ino.0)?;
            let key = st.node_key(ino.0)?;
            let dfd = sys::openat(fd, OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            Ok(st.add_handle(Handle { fd: dfd, key, sync: false, append: false, entries: Vec::new() }))
        });
        match r {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(err(e)),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let r = self.with("readdir", |st| {
            let root_key = st.root_key;
            let by_key = &st.by_key;
            let h = st.handles.get_mut(&fh.0).ok_or(libc::EBADF)?;
            if offset == 0 {
                let mut list = vec![(OsString::from("."), h.key, libc::DT_DIR), (OsString::from(".."), 0, libc::DT_DIR)];
                for e in sys::list_dir(h.fd.as_raw_fd())? {
                    if h.key == root_key && e.0 == crate::state::BOOKKEEPING {
                        continue;
                    }
                    list.push(e);
                }
                h.entries = list;
            }
            for (i, (name, d_ino, dtype)) in h.entries.iter().enumerate().skip(offset as usize) {
                let shown = by_key.get(d_ino).copied().unwrap_or(if *d_ino == 0 { 1 } else { *d_ino });
                if reply.add(INodeNo(shown), (i + 1) as u64, dtype_kind(*dtype), name) {
                    break;
                }
            }
            let _ = ino;
            Ok(())
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn releasedir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: OpenFlags, reply: ReplyEmpty) {
        lock(&self.state).handles.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let r = self.with("fsyncdir", |st| {
            let h = st.handles.get(&fh.0).ok_or(libc::EBADF)?;
            let (key, fd) = (h.key, sys::dup(h.fd.as_raw_fd())?);
            st.dir_durable(key);
            Ok(fd)
        });
        let r = r.and_then(|fd| sys::fsync(fd.as_raw_fd(), false));
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let r = self.with("statfs", |st| {
            let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
            let p = sys::proc_path(st.root.as_raw_fd());
            if unsafe { libc::statvfs(p.as_ptr(), &mut s) } < 0 {
                return Err(sys::errno());
            }
            Ok(s)
        });
        match r {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(err(e)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // default_permissions: the kernel checks modes itself.
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = self.with("create", |st| {
            let pfd = dir_change(st, parent.0, name)?;
            let real = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY | libc::O_DIRECT);
            match sys::openat(pfd, name, real | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, mode) {
                Ok(file) => {
                    let (u, g) = owner(st, req, pfd);
                    sys::chown_fd(file.as_raw_fd(), u, g)?;
                    let (ino, s) = st.lookup(parent.0, name)?;
                    let h = Handle {
                        fd: file,
                        key: s.st_ino,
                        sync: flags & libc::O_DSYNC != 0,
                        append: flags & libc::O_APPEND != 0,
                        entries: Vec::new(),
                    };
                    Ok((ino, s, st.add_handle(h)))
                }
                Err(libc::EEXIST) if flags & libc::O_EXCL == 0 => {
                    let (ino, _) = st.lookup(parent.0, name)?;
                    let (fh, _) = open_real(st, ino, flags)?;
                    let s = sys::fstat(st.node_fd(ino)?)?;
                    Ok((ino, s, fh))
                }
                Err(e) => Err(e),
            }
        });
        match r {
            Ok((ino, s, fh)) => {
                reply.created(&TTL, &attr(ino, &s), Generation(0), FileHandle(fh), FopenFlags::empty())
            }
            Err(e) => reply.error(err(e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self.with("fallocate", |st| {
            if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
                // Punching or zeroing would change durable bytes without a write: not modelled.
                return Err(libc::EOPNOTSUPP);
            }
            let h = st.handles.get(&fh.0).ok_or(libc::EBADF)?;
            let (fd, key) = (h.fd.as_raw_fd(), h.key);
            st.touch_file(key, fd)?;
            let r = unsafe { libc::fallocate(fd, mode, offset as i64, length as i64) };
            if r < 0 {
                return Err(sys::errno());
            }
            Ok(())
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn lseek(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: i64, whence: i32, reply: ReplyLseek) {
        let r = self.with("lseek", |st| {
            let h = st.handles.get(&fh.0).ok_or(libc::EBADF)?;
            let o = unsafe { libc::lseek(h.fd.as_raw_fd(), offset, whence) };
            if o < 0 {
                return Err(sys::errno());
            }
            Ok(o)
        });
        match r {
            Ok(o) => reply.offset(o),
            Err(e) => reply.error(err(e)),
        }
    }
}
