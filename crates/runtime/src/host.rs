//! What a machine offers jobs beyond what an engine reports: its GPUs.

/// GPUs this host shows (NVIDIA device nodes).
pub(crate) fn gpus() -> u32 {
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return 0;
    };
    count_gpus(
        entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned()),
    )
}

/// How many NVIDIA GPUs the names of a `/dev` show (`nvidia0`, `nvidia1`, …).
pub(crate) fn count_gpus(names: impl Iterator<Item = String>) -> u32 {
    names
        .filter(|name| {
            name.strip_prefix("nvidia")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .count() as u32
}
