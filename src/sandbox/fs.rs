//! File-system helpers both backends use on host folders: copying task files in,
//! emptying and refilling a workspace, removing trees that were made read-only.
//!
//! Every folder these helpers write into or delete from may have been shaped by the
//! agent (a symlink where a folder was, a link to a host file inside the workspace), so
//! they never follow a symlink: folders are opened with `O_NOFOLLOW | O_DIRECTORY` and
//! then worked on through their descriptor (`/proc/self/fd/<fd>/<name>`, which names
//! the entry inside the folder that was opened, not whatever a path resolves to now),
//! files are created with `O_CREAT | O_EXCL` (which never follows a final symlink), and
//! entries are inspected with `symlink_metadata`. Callers make sure no agent process is
//! running while they refill or remove (the local backend kills the whole sandbox
//! first), which closes the remaining races.

use super::SandboxError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
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

fn set_fd_mode(file: &File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Opens a folder without following a symlink at its last component.
pub(crate) fn open_dir_nofollow(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
}

/// The path of `name` inside the folder open as `dir`: resolved by the kernel through
/// the descriptor, so a folder renamed or replaced by a symlink since it was opened
/// cannot redirect it.
fn at(dir: &File, name: &std::ffi::OsStr) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

/// Copies a file or a directory tree; `read_only` drops write permission on the copy.
/// The destination must not exist (nothing already there is written through).
pub fn copy_tree(src: &Path, dst: &Path, read_only: bool) -> Result<(), SandboxError> {
    let parent = dst.parent().unwrap_or(Path::new("/"));
    let name = dst.file_name().ok_or_else(|| SandboxError::Io {
        action: "copy to",
        path: dst.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    let dir = open_dir_nofollow(parent).map_err(io("open", parent))?;
    copy_into(src, &dir, name, read_only).map_err(io("copy to", dst))
}

/// Copies `src` (a trusted host path: task files) to `name` inside the open folder.
fn copy_into(
    src: &Path,
    dir: &File,
    name: &std::ffi::OsStr,
    read_only: bool,
) -> std::io::Result<()> {
    let meta = std::fs::metadata(src)?;
    let dst = at(dir, name);
    if meta.is_dir() {
        std::fs::create_dir(&dst)?;
        let sub = open_dir_nofollow(&dst)?;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            copy_into(&entry.path(), &sub, &entry.file_name(), read_only)?;
        }
        if read_only {
            set_fd_mode(&sub, 0o555)?;
        }
    } else {
        let mut from = File::open(src)?;
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644)
            .open(&dst)?;
        std::io::copy(&mut from, &mut to)?;
        set_fd_mode(&to, if read_only { 0o444 } else { meta_mode(&meta) })?;
    }
    Ok(())
}

fn meta_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    // Keep the executable bits of starter files, never set-id bits.
    (meta.permissions().mode() & 0o777) | 0o200
}

/// Removes everything inside the folder open as `dir` without following symlinks.
fn empty_open_dir(dir: &File) {
    let Ok(children) = std::fs::read_dir(at(dir, std::ffi::OsStr::new(""))) else {
        return;
    };
    for child in children.flatten() {
        let name = child.file_name();
        let path = at(dir, &name);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                if let Ok(sub) = open_dir_nofollow(&path) {
                    let _ = set_fd_mode(&sub, 0o700);
                    empty_open_dir(&sub);
                }
                let _ = std::fs::remove_dir(&path);
            }
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Removes everything inside `dir` (which stays, so bind mounts and open shells keep
/// it). A symlink at `dir` itself is not followed: nothing is removed.
pub fn empty_dir(dir: &Path) {
    if let Ok(open) = open_dir_nofollow(dir) {
        empty_open_dir(&open);
    }
}

/// Makes sure `dir` is a real folder (a symlink or file there is removed first), empty.
pub fn fresh_dir(dir: &Path) -> Result<(), SandboxError> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => empty_dir(dir),
        Ok(_) => std::fs::remove_file(dir).map_err(io("remove", dir))?,
        Err(_) => {}
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("create", dir)(e)),
    }
}

/// Empties `dir` and copies `entries` (`(source, name, read_only)`) into it, calling
/// `copied(path, read_only)` after each. A symlink planted where `dir` was is replaced
/// by a fresh folder; the link's target is never touched.
pub fn refill_dir(
    dir: &Path,
    entries: &[(PathBuf, String, bool)],
    mut copied: impl FnMut(&Path, bool),
) -> Result<(), SandboxError> {
    fresh_dir(dir)?;
    for (src, name, read_only) in entries {
        let dst = dir.join(name);
        copy_tree(src, &dst, *read_only)?;
        copied(&dst, *read_only);
    }
    Ok(())
}

/// Removes a tree even where write permission was dropped, never following a symlink
/// (a symlink at `path` is removed itself).
pub fn remove_tree(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            if let Ok(open) = open_dir_nofollow(path) {
                let _ = set_fd_mode(&open, 0o700);
                empty_open_dir(&open);
            }
            let _ = std::fs::remove_dir(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mlgym-fs-test-{tag}-{}-{}",
            std::process::id(),
            crate::sys::random::random_u64().unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn refill_never_follows_symlinks_planted_by_the_agent() {
        let base = scratch("refill");
        let host = base.join("host");
        std::fs::create_dir_all(host.join("sub")).unwrap();
        std::fs::write(host.join("precious"), b"keep").unwrap();
        std::fs::write(host.join("sub/inner"), b"keep").unwrap();
        let src = base.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("precious"), b"new").unwrap();
        // The workspace itself replaced by a symlink to a host folder.
        let ws = base.join("ws");
        std::os::unix::fs::symlink(&host, &ws).unwrap();
        refill_dir(
            &ws,
            &[(src.join("precious"), "precious".into(), false)],
            |_, _| {},
        )
        .unwrap();
        assert!(std::fs::symlink_metadata(&ws).unwrap().is_dir());
        assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
        assert_eq!(std::fs::read(host.join("sub/inner")).unwrap(), b"keep");
        assert_eq!(std::fs::read(ws.join("precious")).unwrap(), b"new");
        // Links inside the workspace: removed, targets kept.
        std::os::unix::fs::symlink(host.join("precious"), ws.join("link")).unwrap();
        std::os::unix::fs::symlink(host.join("sub"), ws.join("dirlink")).unwrap();
        refill_dir(&ws, &[], |_, _| {}).unwrap();
        assert_eq!(std::fs::read_dir(&ws).unwrap().count(), 0);
        assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
        assert_eq!(std::fs::read(host.join("sub/inner")).unwrap(), b"keep");
        // A link planted where a starter file will be copied is not written through.
        std::os::unix::fs::symlink(host.join("precious"), ws.join("precious")).unwrap();
        let dir = open_dir_nofollow(&ws).unwrap();
        assert!(copy_into(&src.join("precious"), &dir, "precious".as_ref(), false).is_err());
        assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
        // remove_tree on a symlink removes the link only.
        remove_tree(&ws.join("precious"));
        assert!(host.join("precious").exists());
        remove_tree(&base);
        assert!(!base.exists());
    }

    #[test]
    fn read_only_copies_are_removable() {
        let base = scratch("ro");
        let src = base.join("src");
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::write(src.join("d/f"), b"x").unwrap();
        let ws = base.join("ws");
        refill_dir(&ws, &[(src.join("d"), "d".into(), true)], |_, _| {}).unwrap();
        assert_eq!(std::fs::read(ws.join("d/f")).unwrap(), b"x");
        refill_dir(&ws, &[], |_, _| {}).unwrap();
        assert!(!ws.join("d").exists());
        remove_tree(&base);
        assert!(!base.exists());
    }
}
