//! Files and folders that hold personal data (the archive, exports, rejects) are made readable by
//! their owner only, whatever the process's umask: 0600 files, 0700 folders. On a multi-user
//! machine an archive created 0644 let every account read ID numbers and health data.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates (or truncates) `path` as a file only its owner can read and write. An existing file
/// is narrowed to 0600 too, as `create` would keep its old mode.
pub fn create(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    restrict(path, false)?;
    Ok(file)
}

/// Creates `dir` (and its missing parents) as a folder only its owner can enter.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Narrows an existing file (0600) or folder (0700) to its owner.
pub fn restrict(path: &Path, dir: bool) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = if dir { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, dir);
    Ok(())
}

/// Whether accounts other than the owner may write into `dir` (group or other write bit): a data
/// folder like that lets someone else replace the archive or read what lands in it.
pub fn writable_by_others(dir: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        Ok(std::fs::metadata(dir)?.permissions().mode() & 0o022 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(false)
    }
}
