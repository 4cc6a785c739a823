//! File-system helpers both backends use on host folders: copying task files in,
//! emptying and refilling a workspace, removing trees that were made read-only.

use super::SandboxError;
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

/// Copies a file or a directory tree; `read_only` drops write permission on the copy.
pub fn copy_tree(src: &Path, dst: &Path, read_only: bool) -> Result<(), SandboxError> {
    let meta = std::fs::metadata(src).map_err(io("read", src))?;
    if meta.is_dir() {
        std::fs::create_dir_all(dst).map_err(io("create", dst))?;
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(io("list", src))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            copy_tree(&entry.path(), &dst.join(entry.file_name()), read_only)?;
        }
        if read_only {
            set_mode(dst, 0o555).map_err(io("chmod", dst))?;
        }
    } else {
        std::fs::copy(src, dst).map_err(io("copy to", dst))?;
        if read_only {
            set_mode(dst, 0o444).map_err(io("chmod", dst))?;
        }
    }
    Ok(())
}

/// Removes everything inside `dir` (which stays, so bind mounts and open shells keep it).
pub fn empty_dir(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.flatten() {
            let path = child.path();
            if path.is_dir() && !path.is_symlink() {
                remove_tree(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Empties `dir` and copies `entries` (`(source, name, read_only)`) into it, calling
/// `copied(path, read_only)` after each.
pub fn refill_dir(
    dir: &Path,
    entries: &[(PathBuf, String, bool)],
    mut copied: impl FnMut(&Path, bool),
) -> Result<(), SandboxError> {
    empty_dir(dir);
    for (src, name, read_only) in entries {
        let dst = dir.join(name);
        copy_tree(src, &dst, *read_only)?;
        copied(&dst, *read_only);
    }
    Ok(())
}

/// Removes a tree even where write permission was dropped.
pub fn remove_tree(path: &Path) {
    fn make_writable(path: &Path) {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.is_dir() {
                let _ = set_mode(path, 0o755);
                if let Ok(entries) = std::fs::read_dir(path) {
                    for e in entries.flatten() {
                        make_writable(&e.path());
                    }
                }
            }
        }
    }
    make_writable(path);
    let _ = std::fs::remove_dir_all(path);
}
