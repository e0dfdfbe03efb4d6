//! Images: list, pull, build from a Dockerfile, and mlbench's own runtime image, made with no
//! registry from the slim binary built beside mlbench (`FROM scratch`, `mlbench-job` as
//! `mlbench`, and the shared libraries it loads).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::{BuildInfo, CreateImageInfo};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use mlbench_domain::FromIo;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::DockerRuntime;
use crate::{Error, Result};

const BINARY_LABEL: &str = "mlbench.binary-sha256";

/// `mlbench/runtime:<version>`: the image jobs run in unless they name another.
pub fn runtime_tag() -> String {
    format!("mlbench/runtime:{}", env!("CARGO_PKG_VERSION"))
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageRow {
    pub tags: Vec<String>,
    pub id: String,
    pub size_bytes: i64,
    pub created_unix: i64,
}

impl DockerRuntime {
    pub fn list_images<'a>(&'a self) -> LocalBoxFuture<'a, Result<Vec<ImageRow>>> {
        Box::pin(async move {
            let images = self
                .docker
                .list_images(Some(ListImagesOptionsBuilder::default().build()))
                .await?;
            let mut rows: Vec<ImageRow> = images
                .into_iter()
                .map(|i| ImageRow {
                    tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                    id: short_id(&i.id),
                    size_bytes: i.size,
                    created_unix: i.created,
                })
                .collect();
            rows.sort_by(|a, b| a.tags.cmp(&b.tags));
            Ok(rows)
        })
    }

    pub fn image_exists<'a>(&'a self, name: &'a str) -> LocalBoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            match self.docker.inspect_image(name).await {
                Ok(_) => Ok(true),
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
                Err(err) => Err(err.into()),
            }
        })
    }

    /// Whether the image says what to run (a CMD or an ENTRYPOINT).
    pub fn image_has_command<'a>(&'a self, name: &'a str) -> LocalBoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let config = self.docker.inspect_image(name).await?.config;
            Ok(config.is_some_and(|c| {
                c.cmd.is_some_and(|cmd| !cmd.is_empty()) || c.entrypoint.is_some_and(|e| !e.is_empty())
            }))
        })
    }

    async fn image_label(&self, name: &str, label: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(name).await {
            Ok(image) => Ok(image
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(label))),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Pulls an image, reporting each layer's progress through `progress`.
    pub fn pull<'a>(
        &'a self,
        name: &'a str,
        progress: &'a mut dyn FnMut(&str),
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (image, tag) = split_tag(name);
            let options = CreateImageOptionsBuilder::default()
                .from_image(image)
                .tag(tag)
                .build();
            let mut stream = self.docker.create_image(Some(options), None, None);
            while let Some(item) = stream.next().await {
                let info: CreateImageInfo = item.map_err(|e| pull_error(name, Error::from(e)))?;
                if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                    return Err(pull_error(name, Error::Docker(detail)));
                }
                let mut line = [info.id.as_deref(), info.status.as_deref()]
                    .iter()
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(": ");
                if let Some(p) = info.progress_detail
                    && let (Some(current), Some(total)) = (p.current, p.total)
                    && total > 0
                {
                    line.push_str(&format!(" {:.0}%", current as f64 * 100.0 / total as f64));
                }
                if !line.is_empty() {
                    progress(&line);
                }
            }
            Ok(())
        })
    }

    /// Builds `tag` from `context` with the Dockerfile at `dockerfile` (relative to it),
    /// passing each output line to `output`.
    pub fn build<'a>(
        &'a self,
        context: &'a Path,
        dockerfile: &'a str,
        tag: &'a str,
        labels: &'a HashMap<String, String>,
        output: &'a mut dyn FnMut(&str),
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if !context.join(dockerfile).is_file() {
                return Err(Error::NotFound(format!(
                    "there is no Dockerfile at {}: name it with --dockerfile",
                    context.join(dockerfile).display()
                )));
            }
            let tar = tar_folder(context)?;
            self.build_from_tar(tar, dockerfile, tag, labels, output).await
        })
    }

    async fn build_from_tar(
        &self,
        tar: Vec<u8>,
        dockerfile: &str,
        tag: &str,
        labels: &HashMap<String, String>,
        output: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(labels)
            .build();
        let mut stream = self
            .docker
            .build_image(options, None, Some(bollard::body_full(tar.into())));
        while let Some(item) = stream.next().await {
            let info: BuildInfo = item?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::Docker(format!(
                    "building {tag} failed: {}",
                    message.trim()
                )));
            }
            for line in info
                .stream
                .iter()
                .flat_map(|s| s.lines())
                .filter(|l| !l.trim().is_empty())
            {
                output(line.trim_end());
            }
        }
        Ok(())
    }

    /// Builds the runtime image from the slim binary unless the image already holds this very
    /// binary. Returns the tag and whether it was built.
    pub fn ensure_runtime_image<'a>(
        &'a self,
        force: bool,
        output: &'a mut dyn FnMut(&str),
    ) -> LocalBoxFuture<'a, Result<(String, bool)>> {
        Box::pin(async move {
            let tag = runtime_tag();
            let (exe, binary, digest) = job_binary()?;
            if !force && self.image_label(&tag, BINARY_LABEL).await?.as_deref() == Some(digest.as_str()) {
                return Ok((tag, false));
            }
            let tar = runtime_context(&exe, &binary)?;
            let labels = HashMap::from([(BINARY_LABEL.to_string(), digest)]);
            self.build_from_tar(tar, "Dockerfile", &tag, &labels, output)
                .await?;
            Ok((tag, true))
        })
    }
}

impl DockerRuntime {
    /// Runtime images that lost their tag to a newer build: mlbench made them, nothing uses
    /// them. As (id, size in bytes).
    pub fn dangling_runtime_images<'a>(&'a self) -> LocalBoxFuture<'a, Result<Vec<(String, u64)>>> {
        Box::pin(async move {
            let filters = HashMap::from([
                ("dangling".to_string(), vec!["true".to_string()]),
                ("label".to_string(), vec![BINARY_LABEL.to_string()]),
            ]);
            let images = self
                .docker
                .list_images(Some(
                    ListImagesOptionsBuilder::default().filters(&filters).build(),
                ))
                .await?;
            Ok(images
                .into_iter()
                .map(|i| (i.id, u64::try_from(i.size).unwrap_or(0)))
                .collect())
        })
    }

    pub fn remove_image<'a>(&'a self, id: &'a str) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.docker
                .remove_image(id, None::<bollard::query_parameters::RemoveImageOptions>, None)
                .await?;
            Ok(())
        })
    }
}

/// Whether the runtime image exists, and whether it holds this very binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeImage {
    Missing,
    OfAnotherBinary,
    Current,
}

impl DockerRuntime {
    pub fn runtime_image<'a>(&'a self) -> LocalBoxFuture<'a, Result<RuntimeImage>> {
        Box::pin(async move {
            let tag = runtime_tag();
            if !self.image_exists(&tag).await? {
                return Ok(RuntimeImage::Missing);
            }
            let (_, _, digest) = job_binary()?;
            Ok(
                if self.image_label(&tag, BINARY_LABEL).await?.as_deref() == Some(digest.as_str()) {
                    RuntimeImage::Current
                } else {
                    RuntimeImage::OfAnotherBinary
                },
            )
        })
    }
}

/// What the slim binary is called beside `mlbench`, and the variable that names another one.
const JOB_BINARY: &str = "mlbench-job";
const JOB_BINARY_VARIABLE: &str = "MLBENCH_JOB_BIN";

/// The binary the runtime image carries as `mlbench`: `MLBENCH_JOB_BIN`, else `mlbench-job`
/// beside the running mlbench (`cargo build` and `cargo install` make the two together; `cargo
/// run` builds only the one it runs, and the refusal says so). Its path, its bytes
/// and their SHA-256 (hex), which the image carries as a label.
fn job_binary() -> Result<(PathBuf, Vec<u8>, String)> {
    let path = match std::env::var_os(JOB_BINARY_VARIABLE).filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the mlbench binary", e))?;
            exe.with_file_name(JOB_BINARY)
        }
    };
    let binary = match std::fs::read(&path) {
        Ok(binary) => binary,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!(
                "the runtime image carries {JOB_BINARY}, and there is none at {}: build it beside mlbench (`cargo build --release` builds both, `cargo install --path .` installs both), or name one with {JOB_BINARY_VARIABLE}",
                path.display()
            )));
        }
        Err(err) => return Err(Error::at(&path, "cannot read")(err)),
    };
    let digest: String = Sha256::digest(&binary)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((path, binary, digest))
}

/// An image id as `docker images` shows it: 12 hex digits, no `sha256:`.
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn split_tag(name: &str) -> (&str, &str) {
    // A colon after the last slash separates the tag; one before it belongs to a registry port.
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') && !name.contains('@') => (&name[..i], &name[i + 1..]),
        _ => (name, "latest"),
    }
}

fn pull_error(name: &str, err: Error) -> Error {
    Error::Docker(format!(
        "cannot pull {name}: {} (no registry answered? build the image locally with `mlbench images build`)",
        err.to_string().trim_start_matches("Docker Engine: ")
    ))
}

fn tar_folder(dir: &Path) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    for entry in std::fs::read_dir(dir).map_err(Error::at(dir, "cannot read"))? {
        let entry = entry.map_err(Error::at(dir, "cannot read"))?;
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        let is_dir = entry
            .file_type()
            .map_err(Error::at(&path, "cannot read"))?
            .is_dir();
        let added = if is_dir {
            builder.append_dir_all(entry.file_name(), &path)
        } else {
            builder.append_path_with_name(&path, entry.file_name())
        };
        added.map_err(Error::at(&path, "cannot add to the build context"))?;
    }
    builder
        .into_inner()
        .map_err(|e| Error::io("cannot finish the build context", e))
}

/// The shared libraries a binary loads, as `ldd` resolves them (none for a static binary).
fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| Error::io("cannot run ldd to find the libraries mlbench needs", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, target)) => target.trim(),
                None => line,
            };
            let path = path.split(" (").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

fn runtime_context(exe: &Path, binary: &[u8]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder
            .append_data(&mut header, path, data)
            .map_err(|e| Error::io("cannot build the runtime image context", e))
    };
    let dockerfile =
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nWORKDIR /workspace\n";
    add("Dockerfile", 0o644, dockerfile.as_bytes())?;
    add("rootfs/usr/local/bin/mlbench", 0o755, binary)?;
    add("rootfs/tmp/.keep", 0o644, b"")?;
    for lib in shared_libraries(exe)? {
        // Copied under the path the loader asks for, whatever symlinks lead there on this host.
        let data = std::fs::read(&lib).map_err(Error::at(&lib, "cannot read"))?;
        add(&format!("rootfs{}", lib.display()), 0o755, &data)?;
    }
    builder
        .into_inner()
        .map_err(|e| Error::io("cannot build the runtime image context", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_the_last_slash() {
        assert_eq!(split_tag("python:3.11"), ("python", "3.11"));
        assert_eq!(split_tag("localhost:5000/x"), ("localhost:5000/x", "latest"));
        assert_eq!(split_tag("localhost:5000/x:v1"), ("localhost:5000/x", "v1"));
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
    }
}
