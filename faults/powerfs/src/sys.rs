//! Thin wrappers over the *at system calls: every operation on the real files goes through a file
//! descriptor opened before the mount (or derived from one), never through the shadowed path.
//! Errors are plain errno values, which is what the FUSE replies carry.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

pub type R<T> = Result<T, i32>;

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

pub fn cstr(name: &OsStr) -> R<CString> {
    CString::new(name.as_bytes()).map_err(|_| libc::EINVAL)
}

fn check(ret: libc::c_int) -> R<()> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `/proc/self/fd/N`: reopens the inode behind an O_PATH descriptor (a magic link, not a path lookup,
/// so it reaches the real file under the mount).
pub fn proc_path(fd: RawFd) -> CString {
    CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL in a number")
}

pub fn openat(dir: RawFd, name: &OsStr, flags: i32, mode: u32) -> R<OwnedFd> {
    let c = cstr(name)?;
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

pub fn reopen(fd: RawFd, flags: i32) -> R<OwnedFd> {
    let p = proc_path(fd);
    let new = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
    if new < 0 {
        Err(errno())
    } else {
        Ok(unsafe { OwnedFd::from_raw_fd(new) })
    }
}

pub fn dup(fd: RawFd) -> R<OwnedFd> {
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        Err(errno())
    } else {
        Ok(unsafe { OwnedFd::from_raw_fd(new) })
    }
}

pub fn fstatat(dir: RawFd, name: &OsStr) -> R<libc::stat> {
    let c = cstr(name)?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

/// The attributes of the inode behind `fd` itself (works on O_PATH descriptors, symlinks included).
pub fn fstat(fd: RawFd) -> R<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe {
        libc::fstatat(fd, c"".as_ptr(), &mut st, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
    })?;
    Ok(st)
}

pub fn mkdirat(dir: RawFd, name: &OsStr, mode: u32) -> R<()> {
    let c = cstr(name)?;
    check(unsafe { libc::mkdirat(dir, c.as_ptr(), mode) })
}

pub fn mknodat(dir: RawFd, name: &OsStr, mode: u32, rdev: u64) -> R<()> {
    let c = cstr(name)?;
    check(unsafe { libc::mknodat(dir, c.as_ptr(), mode, rdev) })
}

pub fn symlinkat(target: &OsStr, dir: RawFd, name: &OsStr) -> R<()> {
    let t = cstr(target)?;
    let c = cstr(name)?;
    check(unsafe { libc::symlinkat(t.as_ptr(), dir, c.as_ptr()) })
}

pub fn unlinkat(dir: RawFd, name: &OsStr, flags: i32) -> R<()> {
    let c = cstr(name)?;
    check(unsafe { libc::unlinkat(dir, c.as_ptr(), flags) })
}

pub fn renameat2(from_dir: RawFd, from: &OsStr, to_dir: RawFd, to: &OsStr, flags: u32) -> R<()> {
    let a = cstr(from)?;
    let b = cstr(to)?;
    check(unsafe { libc::renameat2(from_dir, a.as_ptr(), to_dir, b.as_ptr(), flags) })
}

pub fn linkat(from_dir: RawFd, from: &OsStr, to_dir: RawFd, to: &OsStr) -> R<()> {
    let a = cstr(from)?;
    let b = cstr(to)?;
    check(unsafe { libc::linkat(from_dir, a.as_ptr(), to_dir, b.as_ptr(), 0) })
}

/// A new name for the inode behind `fd` (an O_PATH descriptor), without CAP_DAC_READ_SEARCH.
pub fn link_fd(fd: RawFd, to_dir: RawFd, to: &OsStr) -> R<()> {
    let p = proc_path(fd);
    let b = cstr(to)?;
    check(unsafe { libc::linkat(libc::AT_FDCWD, p.as_ptr(), to_dir, b.as_ptr(), libc::AT_SYMLINK_FOLLOW) })
}

pub fn fchownat(dir: RawFd, name: &OsStr, uid: u32, gid: u32) -> R<()> {
    let c = cstr(name)?;
    check(unsafe { libc::fchownat(dir, c.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
}

pub fn chown_fd(fd: RawFd, uid: u32, gid: u32) -> R<()> {
    check(unsafe {
        libc::fchownat(fd, c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
    })
}

pub fn chmod_fd(fd: RawFd, mode: u32) -> R<()> {
    let p = proc_path(fd);
    check(unsafe { libc::chmod(p.as_ptr(), mode) })
}

pub fn utimens_fd(fd: RawFd, times: &[libc::timespec; 2]) -> R<()> {
    let p = proc_path(fd);
    check(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times.as_ptr(), 0) })
}

pub fn readlink_fd(fd: RawFd) -> R<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    let n = unsafe { libc::readlinkat(fd, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

pub fn pread(fd: RawFd, len: usize, off: u64) -> R<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = unsafe {
            libc::pread(fd, buf[done..].as_mut_ptr().cast(), len - done, (off + done as u64) as i64)
        };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    buf.truncate(done);
    Ok(buf)
}

pub fn pwrite_all(fd: RawFd, data: &[u8], off: u64) -> R<()> {
    let mut done = 0;
    while done < data.len() {
        let n = unsafe {
            libc::pwrite(fd, data[done..].as_ptr().cast(), data.len() - done, (off + done as u64) as i64)
        };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

pub fn ftruncate(fd: RawFd, size: u64) -> R<()> {
    check(unsafe { libc::ftruncate(fd, size as i64) })
}

pub fn fsync(fd: RawFd, datasync: bool) -> R<()> {
    check(unsafe { if datasync { libc::fdatasync(fd) } else { libc::fsync(fd) } })
}

/// The entries of the directory behind `fd` (any descriptor, O_PATH included), without `.` and `..`:
/// (name, inode number, d_type).
pub fn list_dir(fd: RawFd) -> R<Vec<(OsString, u64, u8)>> {
    let dfd = openat(fd, OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let raw = dfd.as_raw_fd();
    let dir = unsafe { libc::fdopendir(raw) };
    if dir.is_null() {
        return Err(errno());
    }
    std::mem::forget(dfd); // closedir closes it
    let mut out = Vec::new();
    loop {
        let ent = unsafe { libc::readdir64(dir) };
        if ent.is_null() {
            break;
        }
        let ent = unsafe { &*ent };
        let name = unsafe { CStr::from_ptr(ent.d_name.as_ptr()) }.to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        out.push((OsString::from_vec(name.to_vec()), ent.d_ino, ent.d_type));
    }
    unsafe { libc::closedir(dir) };
    Ok(out)
}

/// Removes `name` under `dir` and everything below it.
pub fn remove_tree(dir: RawFd, name: &OsStr) -> R<()> {
    let st = fstatat(dir, name)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let sub = openat(dir, name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        for (child, _, _) in list_dir(sub.as_raw_fd())? {
            remove_tree(sub.as_raw_fd(), &child)?;
        }
        unlinkat(dir, name, libc::AT_REMOVEDIR)
    } else {
        unlinkat(dir, name, 0)
    }
}

/// The C library's text for errno `e` ("Operation not permitted"), without Rust's "(os error N)".
pub fn strerror(e: i32) -> String {
    let text = std::io::Error::from_raw_os_error(e).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
