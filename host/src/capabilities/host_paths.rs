//! Pseudo-filesystems: directories through which a file grant would hand the plugin the host
//! itself rather than data — `/proc` (the host's environment in `/proc/self/environ`, its
//! memory in `/proc/self/mem`), `/sys`, `/dev`, and kernel filesystems such as debugfs,
//! securityfs or cgroup.
//!
//! A directory is flagged when, after canonicalisation (so a symlink is followed to its
//! target):
//! - it is `/proc`, `/sys` or `/dev` or lies below one of them;
//! - its filesystem type (`statfs` magic number) is a kernel pseudo-filesystem, or it is on
//!   the same device as `/proc`, `/sys` or `/dev` (a bind mount elsewhere is caught even
//!   when `/dev` is a plain tmpfs, as in containers);
//! - or it *contains* one: it is an ancestor of `/proc`, `/sys` or `/dev` (a grant of `/`),
//!   or a pseudo-filesystem is mounted somewhere below it (read from
//!   `/proc/self/mountinfo`). Wasmtime-wasi confines the guest *below* a preopen but follows
//!   mount points there, so a grant of `/` would otherwise open `/proc` too.
//!
//! Such grants are refused unless the policy says `unsafe-host-paths = true` for the plugin.

use std::path::{Path, PathBuf};

/// The host directories whose contents are the host itself.
const PSEUDO_ROOTS: &[&str] = &["/proc", "/sys", "/dev"];

/// Filesystem type names (as `/proc/self/mountinfo` spells them) of kernel
/// pseudo-filesystems.
const PSEUDO_TYPES: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "debugfs",
    "securityfs",
    "cgroup",
    "cgroup2",
    "tracefs",
    "bpf",
    "configfs",
    "pstore",
    "efivarfs",
    "selinuxfs",
    "binfmt_misc",
    "fusectl",
    "mqueue",
    "nsfs",
    "hugetlbfs",
];

/// `statfs` magic numbers (linux/magic.h) of the same filesystems, with their names.
#[cfg(target_os = "linux")]
const PSEUDO_MAGICS: &[(u32, &str)] = &[
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x1cd1, "devpts"),
    (0x6462_6720, "debugfs"),
    (0x7363_6673, "securityfs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x7472_6163, "tracefs"),
    (0xcafe_4a11, "bpf"),
    (0x6265_6570, "configfs"),
    (0x6165_676c, "pstore"),
    (0xde5e_81e4, "efivarfs"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6573_5543, "fusectl"),
    (0x1980_0202, "mqueue"),
    (0x6e73_6673, "nsfs"),
    (0x9584_58f6, "hugetlbfs"),
];

/// Why granting the canonical directory `dir` would expose the host, or `None` when it is
/// an ordinary directory. The reason names the pseudo-filesystem and where it is.
pub fn exposure(dir: &Path) -> Option<String> {
    if let Some(root) = PSEUDO_ROOTS.iter().find(|r| dir.starts_with(r)) {
        return Some(format!("{} is {root} or below it", dir.display()));
    }
    if let Some(kind) = pseudo_kind(dir) {
        return Some(format!("{} is on the host's {kind}", dir.display()));
    }
    if let Some(root) = PSEUDO_ROOTS.iter().find(|r| Path::new(r).starts_with(dir)) {
        return Some(format!("{} contains {root}", dir.display()));
    }
    pseudo_mounts_below(dir)
        .into_iter()
        .next()
        .map(|(at, kind)| {
            format!(
                "{} contains a {kind} mount at {}",
                dir.display(),
                at.display()
            )
        })
}

/// The pseudo-filesystem `dir` is on, by filesystem type or by device (the device of
/// `/proc`, `/sys` or `/dev`, which catches bind mounts of a tmpfs `/dev`).
fn pseudo_kind(dir: &Path) -> Option<String> {
    if let Some(kind) = magic_kind(dir) {
        return Some(kind.to_string());
    }
    same_device_as_root(dir).map(|root| format!("{root} filesystem (same device)"))
}

#[cfg(target_os = "linux")]
fn magic_kind(dir: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a valid out-pointer.
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    // `f_type`'s width differs between libcs; the magic numbers are 32-bit.
    let magic = stat.f_type as u64 as u32;
    PSEUDO_MAGICS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

#[cfg(not(target_os = "linux"))]
fn magic_kind(_dir: &Path) -> Option<&'static str> {
    None
}

#[cfg(unix)]
fn same_device_as_root(dir: &Path) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt;
    let device = std::fs::metadata(dir).ok()?.dev();
    let root_device = std::fs::metadata("/").ok()?.dev();
    // Only a root that is its own mount says anything: where `/dev` is a plain directory of
    // the root filesystem, every ordinary directory shares its device.
    PSEUDO_ROOTS
        .iter()
        .find(|root| {
            std::fs::metadata(root).is_ok_and(|m| m.dev() == device && m.dev() != root_device)
        })
        .copied()
}

#[cfg(not(unix))]
fn same_device_as_root(_dir: &Path) -> Option<&'static str> {
    None
}

/// Pseudo-filesystems mounted strictly below `dir`, with their type names.
fn pseudo_mounts_below(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    table
        .lines()
        .filter_map(parse_mount)
        .filter(|(at, kind)| {
            at != dir
                && at.starts_with(dir)
                && (PSEUDO_TYPES.contains(&kind.as_str()) || pseudo_kind(at).is_some())
        })
        .collect()
}

/// One `/proc/self/mountinfo` line: the mount point (field 5, octal escapes undone) and
/// the filesystem type (first field after the ` - ` separator).
fn parse_mount(line: &str) -> Option<(PathBuf, String)> {
    let (left, right) = line.split_once(" - ")?;
    let at = left.split(' ').nth(4)?;
    let kind = right.split(' ').next()?;
    Some((PathBuf::from(unescape(at)), kind.to_string()))
}

/// Undoes mountinfo's `\NNN` octal escapes (space, tab, newline, backslash).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_parsed_and_unescaped() {
        let line = "36 35 98:0 / /mnt/with\\040space rw,noatime master:1 - proc proc rw";
        assert_eq!(
            parse_mount(line),
            Some((PathBuf::from("/mnt/with space"), "proc".to_string()))
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pseudo_filesystems_and_their_parents_are_flagged() {
        for dir in ["/proc", "/proc/self", "/sys", "/dev", "/"] {
            let canonical = Path::new(dir).canonicalize().unwrap();
            assert!(exposure(&canonical).is_some(), "{dir} is flagged");
        }
        let tmp = std::env::temp_dir().canonicalize().unwrap();
        assert_eq!(exposure(&tmp.join("nothing-mounted-here")), None);
    }
}
