//! powerfs: a FUSE layer over a node's data directory that makes power loss real (docs/powerfs.md).
//!
//!   powerfs [--user USER[:GROUP] | --user UID[:GID]] DIR -- COMMAND [ARGS...]
//!
//! Mounts itself over DIR (all real I/O through a descriptor opened before the mount), runs COMMAND,
//! forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to it and exits with its status. SIGUSR1 is power loss:
//! every process that could write is killed, DIR goes back to what was durable (fsynced), exit 137.

mod fs;
mod restore;
mod state;
mod sys;

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::state::{State, BOOKKEEPING};

const USAGE: &str = "usage: powerfs [--user USER[:GROUP] | --user UID[:GID]] DIR -- COMMAND [ARGS...]";
/// FUSE worker threads: requests wait for each other only on the state lock, never on a disk sync.
const FUSE_THREADS: usize = 4;
const FIX: &str = "run the container with --device /dev/fuse --cap-add SYS_ADMIN \
                   (and --security-opt apparmor:unconfined where AppArmor is enabled)";

/// An I/O error as the C library words it, without Rust's "(os error N)".
fn plain(e: &std::io::Error) -> String {
    e.raw_os_error().map(sys::strerror).unwrap_or_else(|| e.to_string())
}

fn die(msg: &str) -> ! {
    eprintln!("powerfs: {msg}");
    exit(2);
}

struct User {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

struct Args {
    user: Option<User>,
    dir: PathBuf,
    command: Vec<OsString>,
}

fn parse_args() -> Args {
    let mut argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut user = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            break;
        }
        if a == "--user" || a == "-u" {
            let v = argv.get(i + 1).unwrap_or_else(|| die(&format!("--user needs a value; {USAGE}")));
            user = Some(resolve_user(&v.to_string_lossy()));
            i += 2;
            continue;
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--user=")) {
            user = Some(resolve_user(v));
            i += 1;
            continue;
        }
        if a == "-h" || a == "--help" {
            println!("{USAGE}");
            exit(0);
        }
        if a.as_bytes().starts_with(b"-") {
            die(&format!("unknown option {}; {USAGE}", a.to_string_lossy()));
        }
        rest.push(a.clone());
        i += 1;
    }
    if i >= argv.len() {
        die(&format!("missing `--` before the command; {USAGE}"));
    }
    let command = argv.split_off(i + 1);
    if rest.len() != 1 {
        die(&format!("expected one directory before `--`, got {}; {USAGE}", rest.len()));
    }
    if command.is_empty() {
        die(&format!("missing the command after `--`; {USAGE}"));
    }
    Args { user, dir: PathBuf::from(&rest[0]), command }
}

/// Lines of /etc/passwd or /etc/group split on ':'.
fn db(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect()
}

fn resolve_user(spec: &str) -> User {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = db("/etc/passwd");
    let entry = passwd.iter().find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => match entry {
            Some(f) => f[2].parse().unwrap_or_else(|_| die(&format!("bad uid for user {u} in /etc/passwd"))),
            None => die(&format!("--user {spec}: no user {u} in /etc/passwd; give a numeric UID[:GID] instead")),
        },
    };
    let groups = db("/etc/group");
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match groups.iter().find(|f| f[0] == g) {
                Some(f) => f[2].parse().unwrap_or_else(|_| die(&format!("bad gid for group {g} in /etc/group"))),
                None => die(&format!("--user {spec}: no group {g} in /etc/group; give a numeric GID instead")),
            },
        },
        None => entry.and_then(|f| f[3].parse().ok()).unwrap_or(uid),
    };
    let mut extra = vec![gid];
    if let Some(name) = entry.map(|f| f[0].clone()) {
        for f in &groups {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if !extra.contains(&n) {
                        extra.push(n);
                    }
                }
            }
        }
    }
    User { uid, gid, groups: extra }
}

fn signal_set() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGUSR1, libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGCHLD] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn mount(dir: &Path, root_mode: u32) -> OwnedFd {
    let dev = unsafe { libc::open(c"/dev/fuse".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if dev < 0 {
        let e = sys::errno();
        die(&format!("cannot open /dev/fuse: {}; {FIX}", sys::strerror(e)));
    }
    let dev = unsafe { OwnedFd::from_raw_fd(dev) };
    let opts = format!(
        "fd={},rootmode={:o},user_id=0,group_id=0,allow_other,default_permissions",
        dev.as_raw_fd(),
        root_mode
    );
    let target = CString::new(dir.as_os_str().as_bytes()).unwrap_or_else(|_| die("DIR contains a NUL byte"));
    let opts_c = CString::new(opts).expect("no NUL");
    let r = unsafe {
        libc::mount(
            c"powerfs".as_ptr(),
            target.as_ptr(),
            c"fuse".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            opts_c.as_ptr().cast(),
        )
    };
    if r < 0 {
        let e = sys::errno();
        die(&format!("cannot mount FUSE on {}: {}; {FIX}", dir.display(), sys::strerror(e)));
    }
    dev
}

fn unmount(dir: &Path) {
    if let Ok(c) = CString::new(dir.as_os_str().as_bytes()) {
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

fn main() {
    let args = parse_args();
    let log = std::env::var("POWERFS_LOG").map(|v| v == "1").unwrap_or(false);
    let journal = match std::env::var("POWERFS_MODEL").as_deref() {
        Err(_) | Ok("") | Ok("strict") => false,
        Ok("ext4") => true,
        Ok(other) => die(&format!("POWERFS_MODEL={other} is not a model; use strict (the default) or ext4")),
    };
    if unsafe { libc::geteuid() } != 0 {
        die("must run as root (it mounts a FUSE filesystem); run the node as another user with --user");
    }
    let dir = match std::fs::canonicalize(&args.dir) {
        Ok(d) => d,
        Err(e) => die(&format!("cannot use {}: {}; create the data directory first", args.dir.display(), plain(&e))),
    };
    if !dir.is_dir() {
        die(&format!("{} is not a directory", dir.display()));
    }
    if !Path::new("/dev/fuse").exists() {
        die(&format!("/dev/fuse is missing; {FIX}"));
    }
    let pid1 = unsafe { libc::getpid() } == 1;

    // Everything in DIR now counts as durable: the bookkeeping of an earlier life goes, the rest is synced.
    let bk_path = dir.join(BOOKKEEPING);
    if std::fs::symlink_metadata(&bk_path).is_ok() {
        let r = if bk_path.is_dir() && !bk_path.is_symlink() {
            std::fs::remove_dir_all(&bk_path)
        } else {
            std::fs::remove_file(&bk_path)
        };
        if let Err(e) = r {
            die(&format!("cannot remove the leftover {}: {}", bk_path.display(), plain(&e)));
        }
    }
    let old_umask = unsafe { libc::umask(0) };
    // One O_PATH descriptor per inode the kernel holds: raise our descriptor limit to the hard
    // limit (the child gets the original back).
    let mut old_nofile = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut old_nofile);
        let raised = libc::rlimit { rlim_cur: old_nofile.rlim_max, rlim_max: old_nofile.rlim_max };
        libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
    }
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&bk_path) {
        die(&format!("cannot create {}: {}", bk_path.display(), plain(&e)));
    }
    let dir_os = dir.as_os_str();
    let root = sys::openat(libc::AT_FDCWD, dir_os, libc::O_PATH | libc::O_DIRECTORY, 0)
        .unwrap_or_else(|e| die(&format!("cannot open {}: {}", dir.display(), sys::strerror(e))));
    let bk = sys::openat(root.as_raw_fd(), OsStr::new(BOOKKEEPING), libc::O_PATH | libc::O_DIRECTORY, 0)
        .unwrap_or_else(|e| die(&format!("cannot open {}: {}", bk_path.display(), sys::strerror(e))));
    if let Ok(r) = sys::openat(root.as_raw_fd(), OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0) {
        unsafe { libc::syncfs(r.as_raw_fd()) };
    }
    let root_mode = sys::fstat(root.as_raw_fd()).map(|s| s.st_mode).unwrap_or(libc::S_IFDIR | 0o755);
    let state = State::new(root, bk, log, journal).unwrap_or_else(|e| die(&format!("cannot stat {}: {}", dir.display(), sys::strerror(e))));
    let state = Arc::new(Mutex::new(state));

    // Signals are taken synchronously by the main thread; every thread (and the child, until exec
    // resets it) inherits the block.
    let set = signal_set();
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };

    let dev = mount(&dir, root_mode);
    let fs = fs::PowerFs { state: state.clone() };
    let mut config = fuser::Config::default();
    config.n_threads = Some(FUSE_THREADS);
    let session = match fuser::Session::from_fd(fs, dev, fuser::SessionACL::All, config) {
        Ok(s) => s,
        Err(e) => {
            unmount(&dir);
            die(&format!("FUSE handshake on {} failed: {}; {FIX}", dir.display(), plain(&e)));
        }
    };
    std::thread::Builder::new()
        .name("fuse".into())
        .spawn(move || {
            let _ = session.run();
        })
        .unwrap_or_else(|e| die(&format!("cannot start the FUSE thread: {e}")));

    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..]);
    let user = args.user;
    unsafe {
        cmd.pre_exec(move || {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::umask(old_umask);
            libc::setrlimit(libc::RLIMIT_NOFILE, &old_nofile);
            libc::setpgid(0, 0);
            if let Some(u) = &user {
                if libc::setgroups(u.groups.len(), u.groups.as_ptr()) < 0
                    || libc::setgid(u.gid) < 0
                    || libc::setuid(u.uid) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c.id() as i32,
        Err(e) => {
            unmount(&dir);
            die(&format!("cannot start {}: {}", args.command[0].to_string_lossy(), plain(&e)));
        }
    };
    eprintln!(
        "powerfs: {} mounted (SIGUSR1 = power loss); started {} as pid {child}",
        dir.display(),
        args.command[0].to_string_lossy()
    );

    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig < 0 {
            continue;
        }
        match sig {
            libc::SIGCHLD => loop {
                let mut status = 0;
                let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    // A clean end: nothing more to undo, so the bookkeeping goes now.
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    st.dead = true;
                    let _ = sys::remove_tree(st.root.as_raw_fd(), OsStr::new(BOOKKEEPING));
                    drop(st);
                    unmount(&dir);
                    exit(exit_code(status));
                }
            },
            libc::SIGUSR1 => power_loss(&state, &dir, child, pid1),
            s => unsafe {
                libc::kill(child, s);
            },
        }
    }
}

fn power_loss(state: &Arc<Mutex<State>>, dir: &Path, child: i32, pid1: bool) -> ! {
    state.lock().unwrap_or_else(|p| p.into_inner()).dead = true;
    unsafe {
        if pid1 {
            libc::kill(-1, libc::SIGKILL);
        } else {
            libc::kill(-child, libc::SIGKILL);
            libc::kill(child, libc::SIGKILL);
        }
    }
    // Reap: every process when PID 1 (orphans are ours), else the child.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut status = 0;
        let pid = unsafe { libc::waitpid(if pid1 { -1 } else { child }, &mut status, libc::WNOHANG) };
        if pid < 0 || (!pid1 && pid == child) {
            break;
        }
        if pid == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let sum = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        restore::restore(&mut st)
    };
    for p in &sum.problems {
        eprintln!("powerfs: power loss: {p}");
    }
    eprintln!(
        "powerfs: power loss: dropped {} bytes in {} files, {} directory entries",
        sum.bytes, sum.files, sum.entries
    );
    unmount(dir);
    exit(137);
}
