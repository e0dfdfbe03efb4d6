//! Helpers: short-lived containers from mlbench's runtime image that do on an engine what
//! mlbench cannot do from the user's side, such as removing files a job made as root.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{LogsOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;

use crate::{DockerRuntime, Error, Result};

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
            let (image, _) = self.ensure_runtime_image(false, &mut |_| {}).await?;
            let body = ContainerCreateBody {
                image: Some(image),
                entrypoint: Some(vec!["mlbench".into()]),
                cmd: Some(vec!["empty-folder".into(), "/folder".into()]),
                user: Some("0:0".into()),
                labels: Some(labels.clone()),
                network_disabled: Some(true),
                host_config: Some(HostConfig {
                    mounts: Some(vec![Mount {
                        target: Some("/folder".into()),
                        source: Some(folder.display().to_string()),
                        typ: Some(MountType::BIND),
                        ..Default::default()
                    }]),
                    security_opt: Some(vec!["no-new-privileges".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let id = self
                .docker
                .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
                .await?
                .id;
            let outcome = self.run_to_end(&id).await;
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            let _ = self.docker.remove_container(&id, Some(options)).await;
            outcome.map_err(|why| {
                Error::Docker(format!(
                    "cannot remove what is inside {} through the engine: {why}",
                    folder.display()
                ))
            })
        })
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
}
