//! File-system helpers both backends use on host folders: copying task files in,
//! emptying and refilling a workspace, removing trees that were made read-only.
//!
//! A workspace is written by the agent, and on the container backends the agent is
//! another user with root's help (the bind mount): whatever it left there may be a
//! symbolic link to a host path. Every helper that changes a workspace therefore works
//! relative to open directory descriptors, opens with `O_NOFOLLOW`, creates with
//! `O_EXCL`, and changes modes and owners on the open descriptors: a link is removed as a
//! link, never followed, even if one is swapped in while the helper runs.

use super::SandboxError;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Wraps an OS error with what was being done to which path.
pub(crate) fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SandboxError + 'a {
    move |source| SandboxError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Sets a path's permission bits.
pub(crate) fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Who owns what a refill copies: `None` leaves the copier's ownership.
pub type OwnerOf<'a> = &'a dyn Fn(bool) -> Option<(u32, u32)>;

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::other("NUL in a file name"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens `path` as a directory. The caller's own path may be reached through links
/// (`follow`); `!follow` refuses a link in its last component.
fn open_dir(path: &Path, follow: bool) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str())?;
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    // SAFETY: c is a valid NUL-terminated path.
    let fd = check(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | nofollow | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `name` inside `dir`, never through a link.
fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: name is a valid NUL-terminated string; dir is an open descriptor.
    let fd = check(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names in an open directory (without `.` and `..`).
fn list_at(dir: RawFd) -> io::Result<Vec<CString>> {
    // SAFETY: dup of an open descriptor; fdopendir takes ownership of the copy.
    let copy = check(unsafe { libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: copy is an open directory descriptor we own.
    let stream = unsafe { libc::fdopendir(copy) };
    if stream.is_null() {
        let err = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so copy is still ours to close.
        unsafe { libc::close(copy) };
        return Err(err);
    }
    // SAFETY: the stream is valid until closedir; readdir is not shared between threads.
    unsafe { libc::rewinddir(stream) };
    let mut names = Vec::new();
    loop {
        // SAFETY: stream is valid.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated inside the entry readdir returned.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            names.push(name.to_owned());
        }
    }
    // SAFETY: stream came from fdopendir and is closed once.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

/// `lstat` of `name` inside `dir`.
fn stat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: st is written by fstatat before it is read.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: name is NUL-terminated, st is valid for writes.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Removes `name` inside `dir`: a directory with everything in it (made writable first,
/// through its descriptor), anything else (links included) by unlinking it.
fn remove_at(dir: RawFd, name: &CStr) {
    let Ok(st) = stat_at(dir, name) else { return };
    if is_dir(&st) {
        // A directory swapped for a link meanwhile fails to open here and is unlinked.
        if let Ok(sub) = open_dir_at(dir, name) {
            // SAFETY: sub is an open descriptor.
            unsafe { libc::fchmod(sub.as_raw_fd(), 0o700) };
            empty_at(sub.as_raw_fd());
        }
        // SAFETY: name is NUL-terminated.
        if unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) } == 0 {
            return;
        }
    }
    // SAFETY: name is NUL-terminated.
    unsafe { libc::unlinkat(dir, name.as_ptr(), 0) };
}

/// Removes everything inside an open directory.
fn empty_at(dir: RawFd) {
    if let Ok(names) = list_at(dir) {
        for name in names {
            remove_at(dir, &name);
        }
    }
}

/// Copies the host file or tree `src` to the new entry `name` inside `dir`, creating
/// exclusively and never following a link; `owner` gets it (when given), then its mode is
/// set, on the open descriptor. `read_only` drops write permission on the copy.
fn copy_into(
    src: &Path,
    dir: RawFd,
    name: &CStr,
    read_only: bool,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let meta = std::fs::metadata(src)?;
    let (fd, mode) = if meta.is_dir() {
        // SAFETY: name is NUL-terminated.
        if unsafe { libc::mkdirat(dir, name.as_ptr(), 0o700) } != 0 {
            let err = io::Error::last_os_error();
            // The same folder named twice (data and starter code): merge, never a link.
            if err.kind() != io::ErrorKind::AlreadyExists {
                return Err(err);
            }
        }
        let sub = open_dir_at(dir, name)?;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let child = cstr(&entry.file_name())?;
            copy_into(&entry.path(), sub.as_raw_fd(), &child, read_only, owner)?;
        }
        (sub, if read_only { 0o555 } else { 0o755 })
    } else {
        let mut from = File::open(src)?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: name is NUL-terminated.
        let mut raw = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o600) };
        if raw < 0 && io::Error::last_os_error().kind() == io::ErrorKind::AlreadyExists {
            remove_at(dir, name);
            // SAFETY: as above.
            raw = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o600) };
        }
        check(raw)?;
        // SAFETY: raw was just opened and is owned by nothing else.
        let mut to = unsafe { File::from_raw_fd(raw) };
        io::copy(&mut from, &mut to)?;
        use std::os::unix::fs::PermissionsExt;
        // The source's permission bits, never set-id bits.
        let mode = if read_only {
            0o444
        } else {
            meta.permissions().mode() & 0o777
        };
        (OwnedFd::from(to), mode)
    };
    if let Some((uid, gid)) = owner {
        // SAFETY: fd is open.
        check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    }
    // SAFETY: fd is open.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })?;
    Ok(())
}

/// Splits a path into its open parent directory and its last component.
fn parent_and_name(path: &Path) -> io::Result<(OwnedFd, CString)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("a path without a last component"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((open_dir(parent, true)?, cstr(name)?))
}

/// Copies a file or a directory tree to `dst` (which must not exist as anything but a
/// directory); `read_only` drops write permission on the copy.
pub fn copy_tree(src: &Path, dst: &Path, read_only: bool) -> Result<(), SandboxError> {
    let (parent, name) = parent_and_name(dst).map_err(io("open the folder of", dst))?;
    copy_into(src, parent.as_raw_fd(), &name, read_only, None).map_err(io("copy to", dst))
}

/// Removes everything inside `dir` (which stays, so bind mounts and open shells keep it).
/// Links inside are removed, not followed.
pub fn empty_dir(dir: &Path) {
    if let Ok(fd) = open_dir(dir, false) {
        empty_at(fd.as_raw_fd());
    }
}

/// Makes sure `dir` is a real folder (a link or file planted there is removed first,
/// its target untouched), and empty.
pub fn fresh_dir(dir: &Path) -> Result<(), SandboxError> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => empty_dir(dir),
        Ok(_) => std::fs::remove_file(dir).map_err(io("remove", dir))?,
        Err(_) => {}
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("create", dir)(e)),
    }
}

/// Empties `dir` and copies `entries` (`(source, name, read_only)`) into it; each copy is
/// owned by `owner(read_only)` when that gives ids. The folder itself goes to
/// `owner(false)`.
pub fn refill_dir(
    dir: &Path,
    entries: &[(PathBuf, String, bool)],
    owner: OwnerOf<'_>,
) -> Result<(), SandboxError> {
    fresh_dir(dir)?;
    let fd = open_dir(dir, false).map_err(io("open", dir))?;
    for (src, name, read_only) in entries {
        let dst = dir.join(name);
        let c = cstr(OsStr::new(name)).map_err(io("copy to", &dst))?;
        if name.contains('/') || name == ".." || name == "." {
            return Err(io("copy to", &dst)(io::Error::other("not a plain name")));
        }
        copy_into(src, fd.as_raw_fd(), &c, *read_only, owner(*read_only))
            .map_err(io("copy to", &dst))?;
    }
    if let Some((uid, gid)) = owner(false) {
        // SAFETY: fd is open.
        check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map_err(io("chown", dir))?;
    }
    Ok(())
}

/// Removes a tree even where write permission was dropped. A link is removed as a link;
/// nothing it points to is touched.
pub fn remove_tree(path: &Path) {
    if let Ok((parent, name)) = parent_and_name(path) {
        remove_at(parent.as_raw_fd(), &name);
    }
}

/// Creates `path` as a folder only its owner (this process's user) can enter (0700),
/// with its parents; an existing one must be a real folder of ours, and is set to 0700.
pub fn private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::create_dir_all(parent)?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let fd = open_dir(path, false)?; // refuses a link planted in its place
    let meta = File::from(fd);
    let st = meta.metadata()?;
    // SAFETY: geteuid has no preconditions.
    if st.uid() != unsafe { libc::geteuid() } {
        return Err(io::Error::other(format!(
            "{} belongs to another user (uid {})",
            path.display(),
            st.uid()
        )));
    }
    if st.permissions().mode() & 0o777 != 0o700 {
        meta.set_permissions(std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mlgym-fs-test-{tag}-{}-{:08x}",
            std::process::id(),
            crate::sys::random::random_u32().unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn refilling_never_follows_links_out_of_the_folder() {
        let base = scratch("links");
        let victim_dir = base.join("victimdir");
        std::fs::create_dir(&victim_dir).unwrap();
        std::fs::write(victim_dir.join("inner"), "keep").unwrap();
        set_mode(&victim_dir, 0o700).unwrap();
        let victim = base.join("victim");
        std::fs::write(&victim, "secret").unwrap();
        set_mode(&victim, 0o600).unwrap();
        let ws = base.join("ws");
        std::fs::create_dir(&ws).unwrap();
        symlink(&victim, ws.join("file")).unwrap();
        symlink(&victim_dir, ws.join("dir")).unwrap();
        // Task sources named like the links: the copy must replace, not write through.
        let src = base.join("src");
        std::fs::create_dir_all(src.join("dir")).unwrap();
        std::fs::write(src.join("file"), "starter").unwrap();
        std::fs::write(src.join("dir").join("inner"), "new").unwrap();
        let entries = vec![
            (src.join("file"), "file".to_string(), false),
            (src.join("dir"), "dir".to_string(), true),
        ];
        refill_dir(&ws, &entries, &|_| None).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
        assert_eq!(std::fs::metadata(&victim).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(victim_dir.join("inner")).unwrap(),
            "keep"
        );
        assert_eq!(
            std::fs::metadata(&victim_dir).unwrap().mode() & 0o777,
            0o700
        );
        assert_eq!(std::fs::read_to_string(ws.join("file")).unwrap(), "starter");
        assert!(!ws.join("dir").is_symlink());
        assert_eq!(
            std::fs::metadata(ws.join("dir"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o555
        );
        // Removing a link removes the link only.
        symlink(&victim_dir, base.join("link")).unwrap();
        remove_tree(&base.join("link"));
        assert!(victim_dir.join("inner").exists());
        empty_dir(&ws);
        assert_eq!(std::fs::read_dir(&ws).unwrap().count(), 0);
        remove_tree(&base);
        assert!(!base.exists());
    }

    #[test]
    fn private_dirs_are_0700_and_refuse_links() {
        let base = scratch("private");
        let dir = base.join("a").join("b");
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        set_mode(&dir, 0o755).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        symlink(&dir, base.join("l")).unwrap();
        assert!(private_dir(&base.join("l")).is_err());
        remove_tree(&base);
    }
}
