//! Reading the files a plan names (the plan itself, CSV feeders, body files) with a size limit.
//!
//! A plan may point anywhere: `/dev/zero`, a named pipe that never ends, a multi-gigabyte log.
//! Reading one must end in a clear message, never in an allocation failure, so every read is
//! bounded and devices, sockets and directories are refused before a byte is read. Pipes are
//! allowed (`volley run <(envsubst < plan.yaml)`), through the same bound.

use std::io::Read as _;
use std::path::Path;

/// The largest plan file: plans are a few kilobytes; this is far beyond any real one.
pub const MAX_PLAN_BYTES: u64 = 16 << 20;
/// The largest CSV feeder file.
pub const MAX_CSV_BYTES: u64 = 64 << 20;
/// The most cells (rows × columns) of one CSV feeder: each is kept in memory for the run.
pub const MAX_CSV_CELLS: usize = 4_000_000;
/// The largest request body file (`body_file`, `--body-file`): sent as is, kept in memory.
pub const MAX_BODY_BYTES: u64 = 64 << 20;

/// Reads `path` whole if it is a regular file or a pipe of at most `limit` bytes. The error
/// says why not, in words a user can act on (without the path: callers name it).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let ft = meta.file_type();
    if !ft.is_file() && !is_fifo(&ft) {
        return Err(format!(
            "is {}, not a regular file (hint: point at a file on disk)",
            file_kind(&ft)
        ));
    }
    if ft.is_file() && meta.len() > limit {
        return Err(too_big(meta.len(), limit));
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(if ft.is_file() { meta.len() as usize } else { 8192 });
    file.take(limit + 1).read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.len() as u64 > limit {
        // A file that grew while read, or a pipe that goes on: stop at the limit.
        return Err(too_big(buf.len() as u64, limit));
    }
    Ok(buf)
}

fn too_big(len: u64, limit: u64) -> String {
    let at_least = if len > limit { "more than " } else { "" };
    format!(
        "is {at_least}{}, over the limit of {} (hint: use a smaller file)",
        mib(len.min(limit + 1)),
        mib(limit)
    )
}

fn mib(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(unix)]
fn is_fifo(ft: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(ft)
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}

fn file_kind(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_before_reading() {
        let e = read_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.contains("character device"), "{e}");
        let e = read_limited(Path::new("/"), 1 << 20).unwrap_err();
        assert!(e.contains("directory"), "{e}");
        let e = read_limited(Path::new("/nonexistent/x"), 10).unwrap_err();
        assert!(e.contains("No such file"), "{e}");
    }

    #[test]
    fn size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![b'x'; 100]).unwrap();
        assert_eq!(read_limited(&p, 100).unwrap().len(), 100);
        let e = read_limited(&p, 99).unwrap_err();
        assert!(e.contains("over the limit of 99 bytes"), "{e}");
        assert_eq!(mib(3 << 20), "3.0 MiB");
    }
}
