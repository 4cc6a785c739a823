//! Tar archives for the engine's archive API (the only way files cross into a
//! container whose file system is not bind-mounted).

use std::path::Path;

/// One file: `(path inside the archive, bytes, mode)`, owned by root.
pub fn files(entries: &[(&str, &[u8], u32)]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *data)?;
    }
    builder.into_inner()
}

/// A host file or directory tree stored under `name`.
pub fn tree(host: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(true);
    if host.is_dir() {
        builder.append_dir_all(name, host)?;
    } else {
        builder.append_path_with_name(host, name)?;
    }
    builder.into_inner()
}
