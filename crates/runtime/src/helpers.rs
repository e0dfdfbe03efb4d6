//! Helpers: short-lived containers from mlbench's runtime image that do on an engine what
//! mlbench cannot do from the user's side. Started ones run one of the slim binary's upkeep
//! commands as root (removing files a job made as root, giving a new volume to the user);
//! never-started ones only mount volumes, so the archive API reads and writes them (a remote
//! job's code, its project's storage).

use std::collections::HashMap;
use std::path::Path;

use bollard::body_full;
use bollard::container::PathStatResponse;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::{Stream, StreamExt};

use crate::docker::is_not_found;
use crate::{DockerRuntime, Error, Result};

/// A mount of a named volume at `target`.
pub(crate) fn volume_mount(volume: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        target: Some(target.into()),
        source: Some(volume.into()),
        typ: Some(MountType::VOLUME),
        read_only: Some(read_only),
        ..Default::default()
    }
}

impl DockerRuntime {
    /// Removes everything inside `folder` (a path on the engine's machine) as root, from a
    /// helper container that mounts it; the folder itself stays. `labels` mark the helper as the
    /// home's, so a helper left by a killed mlbench is found and removed like a job's container.
    pub fn empty_as_root<'a>(
        &'a self,
        folder: &'a Path,
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mount = Mount {
                target: Some("/folder".into()),
                source: Some(folder.display().to_string()),
                typ: Some(MountType::BIND),
                ..Default::default()
            };
            self.run_helper(&["empty-folder", "/folder"], vec![mount], labels)
                .await
                .map_err(|why| {
                    Error::Docker(format!(
                        "cannot remove what is inside {} through the engine: {why}",
                        folder.display()
                    ))
                })
        })
    }

    /// Gives the root of `volume` to `owner` (`UID:GID`), as root from a helper.
    pub(crate) async fn own_volume(
        &self,
        volume: &str,
        owner: &str,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let mount = volume_mount(volume, "/volume", false);
        self.run_helper(&["own-folder", "/volume", owner], vec![mount], labels)
            .await
            .map_err(|why| Error::Docker(format!("cannot give volume {volume} to {owner}: {why}")))
    }

    /// Runs `mlbench ARGS` of the runtime image as root, with `mounts` and no network, to its
    /// end; `Err` holds what it printed when it failed.
    pub(crate) async fn run_helper(
        &self,
        args: &[&str],
        mounts: Vec<Mount>,
        labels: &HashMap<String, String>,
    ) -> std::result::Result<(), String> {
        let id = self
            .create_helper(args, mounts, labels)
            .await
            .map_err(|e| e.to_string())?;
        let outcome = self.run_to_end(&id).await;
        self.remove_helper(&id).await;
        outcome
    }

    /// Makes a helper container (not started) running `mlbench ARGS` as root.
    async fn create_helper(
        &self,
        args: &[&str],
        mounts: Vec<Mount>,
        labels: &HashMap<String, String>,
    ) -> Result<String> {
        let (image, _) = self.ensure_runtime_image(false, &mut |_| {}).await?;
        let body = ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(vec!["mlbench".into()]),
            cmd: Some(args.iter().map(ToString::to_string).collect()),
            user: Some("0:0".into()),
            labels: Some(labels.clone()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                security_opt: Some(vec!["no-new-privileges".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(self
            .docker
            .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
            .await?
            .id)
    }

    async fn remove_helper(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let _ = self.docker.remove_container(id, Some(options)).await;
    }

    /// Starts a made container and waits for its end; `Err` holds what it printed when it
    /// failed.
    async fn run_to_end(&self, id: &str) -> std::result::Result<(), String> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| e.to_string())?;
        let mut waits = self
            .docker
            .wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
        let mut failed = None;
        while let Some(wait) = waits.next().await {
            match wait {
                Ok(_) => {}
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => {
                    failed = Some(format!("exit code {code}"));
                }
                Err(err) => return Err(err.to_string()),
            }
        }
        let Some(code) = failed else { return Ok(()) };
        let options = LogsOptionsBuilder::default().stderr(true).stdout(true).build();
        let mut said = String::new();
        let mut logs = self.docker.logs(id, Some(options));
        while let Some(Ok(chunk)) = logs.next().await {
            said.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        let said = mlbench_domain::error::brief(&said);
        Err(if said.is_empty() { code } else { said })
    }

    /// A helper that is never started and mounts `volumes` (name, target, read-only): its
    /// archive API reads and writes them. Remove it with [`FilesHelper::remove`].
    pub(crate) async fn files_helper(
        &self,
        volumes: &[(&str, &str, bool)],
        labels: &HashMap<String, String>,
    ) -> Result<FilesHelper<'_>> {
        let mounts = volumes
            .iter()
            .map(|(volume, target, read_only)| volume_mount(volume, target, *read_only))
            .collect();
        let id = self.create_helper(&["--version"], mounts, labels).await?;
        Ok(FilesHelper { runtime: self, id })
    }
}

impl DockerRuntime {
    /// The never-started helper called `name` that mounts `volume` at `mount`, made on first
    /// use and kept (a job's layer is made through it at once, without a container of its
    /// own). Processes making it at once find the one that won.
    pub(crate) async fn lasting_files_helper(
        &self,
        name: &str,
        volume: &str,
        mount: &str,
        labels: &HashMap<String, String>,
    ) -> Result<FilesHelper<'_>> {
        if let Ok(found) = self.docker.inspect_container(name, None).await {
            return Ok(FilesHelper {
                runtime: self,
                id: found.id.unwrap_or_else(|| name.to_string()),
            });
        }
        let (image, _) = self.ensure_runtime_image(false, &mut |_| {}).await?;
        let body = ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(vec!["mlbench".into()]),
            cmd: Some(vec!["--version".into()]),
            labels: Some(labels.clone()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                mounts: Some(vec![volume_mount(volume, mount, false)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(name)
            .build();
        let id = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created.id,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => self
                .docker
                .inspect_container(name, None)
                .await?
                .id
                .unwrap_or_else(|| name.to_string()),
            Err(err) => return Err(err.into()),
        };
        Ok(FilesHelper { runtime: self, id })
    }
}

/// A never-started helper whose archive API reads and writes the volumes it mounts.
pub(crate) struct FilesHelper<'a> {
    runtime: &'a DockerRuntime,
    id: String,
}

impl FilesHelper<'_> {
    /// Extracts the tar `archive` into the folder `path` (which must exist in the helper).
    pub(crate) async fn put(&self, path: &str, archive: Vec<u8>) -> Result<()> {
        let options = UploadToContainerOptionsBuilder::default().path(path).build();
        self.runtime
            .docker
            .upload_to_container(&self.id, Some(options), body_full(Bytes::from(archive)))
            .await?;
        Ok(())
    }

    /// Extracts a tar that comes as a stream into the folder `path`.
    pub(crate) async fn put_stream(
        &self,
        path: &str,
        archive: impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<()> {
        let options = UploadToContainerOptionsBuilder::default().path(path).build();
        self.runtime
            .docker
            .upload_to_container(&self.id, Some(options), bollard::body_try_stream(archive))
            .await?;
        Ok(())
    }

    /// What is at `path`, links not followed (`None`: nothing).
    pub(crate) async fn stat(&self, path: &str) -> Result<Option<PathStatResponse>> {
        let options = ContainerArchiveInfoOptionsBuilder::default().path(path).build();
        match self
            .runtime
            .docker
            .get_container_archive_info(&self.id, Some(options))
            .await
        {
            Ok(stat) => Ok(Some(stat)),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// `path` as a tar stream (a folder with everything in it).
    pub(crate) fn get(
        &self,
        path: &str,
    ) -> impl Stream<Item = std::result::Result<Bytes, bollard::errors::Error>> + '_ {
        let options = DownloadFromContainerOptionsBuilder::default().path(path).build();
        self.runtime
            .docker
            .download_from_container(&self.id, Some(options))
    }

    pub(crate) async fn remove(self) {
        self.runtime.remove_helper(&self.id).await;
    }
}
