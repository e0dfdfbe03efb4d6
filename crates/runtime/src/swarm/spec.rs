//! The Swarm service that runs one job: a `Replicated {replicas: 1}` service whose task runs
//! once (restart condition `none`). `ReplicatedJob` would say "runs once" more plainly, but on
//! Engine 20.10 removing such a service leaves its container running (moby #44312, fixed in
//! Moby 24); a replicated service stops its task when scaled to 0 or removed.

use std::collections::HashMap;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, EndpointSpec,
    GenericResourcesInner, GenericResourcesInnerDiscreteResourceSpec, Limit, Mount, MountType,
    ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};

use crate::{LaunchSpec, Result};

/// The generic resource name Swarm nodes advertise NVIDIA GPUs under (`node-generic-resources`
/// in each node's daemon.json); services have no `--gpus`.
pub(crate) const GPU_RESOURCE: &str = "NVIDIA-GPU";

/// The service for `spec`, running `image` (a reference every node can pull, by digest). The
/// workspace is a folder on the shared root: no node could mount an overlay of another's files.
pub(crate) fn service_spec(spec: &LaunchSpec, image: &str) -> Result<ServiceSpec> {
    let workspace = spec.workspace.folder()?;
    // The command is argv as given; none runs the image's own CMD and ENTRYPOINT.
    let (command, args) = match spec.command.split_first() {
        Some((program, args)) => (Some(vec![program.clone()]), Some(args.to_vec())),
        None => (None, None),
    };
    let bind = |source: &std::path::Path, target: &str, read_only: bool| Mount {
        target: Some(target.into()),
        source: Some(source.display().to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    };
    let nano_cpus = (spec.machine.cpus * 1e9) as i64;
    let memory = i64::try_from(spec.machine.memory_bytes).unwrap_or(i64::MAX);
    let container = TaskSpecContainerSpec {
        image: Some(image.to_string()),
        labels: Some(spec.labels.clone()),
        command,
        args,
        env: Some(
            spec.env
                .iter()
                .map(|e| format!("{}={}", e.name, e.value))
                .collect(),
        ),
        dir: Some("/workspace".into()),
        user: spec.user.clone(),
        mounts: Some(vec![
            bind(workspace, "/workspace", false),
            bind(spec.storage.folder()?, "/storage", spec.storage_read_only),
        ]),
        // An init process forwards SIGTERM to the command, so stop is quick.
        init: Some(true),
        capability_drop: spec.drop_capabilities.then(|| vec!["ALL".into()]),
        ..Default::default()
    };
    // Reserved as well as limited: Swarm then places a job only on a node with that much free,
    // and one that fits nowhere yet waits as a pending task that says why.
    let resources = TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: Some(nano_cpus),
            memory_bytes: Some(memory),
            pids: Some(i64::from(spec.machine.pids)),
        }),
        reservations: Some(ResourceObject {
            nano_cpus: Some(nano_cpus),
            memory_bytes: Some(memory),
            generic_resources: (spec.machine.gpus > 0).then(|| {
                vec![GenericResourcesInner {
                    discrete_resource_spec: Some(GenericResourcesInnerDiscreteResourceSpec {
                        kind: Some(GPU_RESOURCE.into()),
                        value: Some(spec.machine.gpus.into()),
                    }),
                    ..Default::default()
                }]
            }),
        }),
        ..Default::default()
    };
    let ports = spec
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
            target_port: Some(p.container_port.into()),
            published_port: Some(p.host_port.into()),
            // On the node that runs the task, as one engine publishes a port: the routing
            // mesh (ingress) needs the kernel's IP_VS, which not every node has.
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    Ok(ServiceSpec {
        name: Some(spec.name.clone()),
        labels: Some(spec.labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(resources),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(spec.placement.clone()),
                ..Default::default()
            }),
            log_driver: Some(TaskSpecLogDriver {
                name: Some("json-file".into()),
                // As for a single engine: mlbench's log file keeps the output, the node's copy
                // is the buffer a follower reads from.
                options: Some(HashMap::from([
                    ("max-size".to_string(), "1g".to_string()),
                    ("max-file".to_string(), "2".to_string()),
                ])),
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        endpoint_spec: (!ports.is_empty()).then(|| EndpointSpec {
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::Workspace;
    use mlbench_domain::{EnvVar, MachineType, PortMapping};

    fn launch(machine: MachineType) -> LaunchSpec {
        LaunchSpec {
            name: "mlbench-0a1b2c3d4e5f-7".into(),
            image: "mlbench/runtime:0.2.0".into(),
            command: vec![
                "mlbench".into(),
                "train".into(),
                "-i".into(),
                "data/sal.csv".into(),
            ],
            env: vec![EnvVar {
                name: "SEED".into(),
                value: "1".into(),
            }],
            workspace: Workspace::Folder(PathBuf::from("/mnt/shared/jobs/7/workspace")),
            storage: crate::Storage::Folder(PathBuf::from("/mnt/shared/projects/salary/storage")),
            storage_read_only: false,
            machine,
            ports: Vec::new(),
            labels: HashMap::from([
                ("mlbench.home".to_string(), "0a1b2c3d4e5f".to_string()),
                ("mlbench.job".to_string(), "7".to_string()),
            ]),
            user: Some("1000:1000".into()),
            drop_capabilities: true,
            gpu_devices: Vec::new(),
            placement: vec!["node.hostname==worker1".into()],
        }
    }

    fn machine(gpus: u32) -> MachineType {
        MachineType {
            name: "C2".into(),
            cpus: 2.0,
            memory_bytes: 4 << 30,
            gpus,
            pids: 2048,
        }
    }

    #[test]
    fn a_training_job_is_one_replica_that_runs_once_with_limits_and_reservations() {
        let spec = service_spec(
            &launch(machine(0)),
            "10.0.0.2:5000/mlbench/runtime@sha256:2ed63dd88d49f45d3ab0960ff85cad388e664a666050f61aec207035511f81f5",
        )
        .unwrap();
        // Labels and options are hash maps: sorted, so the snapshot does not depend on their order.
        insta::with_settings!({ sort_maps => true }, {
            insta::assert_json_snapshot!(spec);
        });
    }

    #[test]
    fn a_serving_job_publishes_its_port_and_a_gpu_machine_reserves_gpus() {
        let mut launch = launch(machine(1));
        launch.name = "mlbench-0a1b2c3d4e5f-8".into();
        launch.command = vec!["mlbench".into(), "serve".into()];
        launch.storage_read_only = true;
        launch.ports = vec!["8080:8080".parse::<PortMapping>().unwrap()];
        launch.placement = vec!["node.labels.gpu==true".into()];
        insta::with_settings!({ sort_maps => true }, {
            insta::assert_json_snapshot!(service_spec(&launch, "10.0.0.2:5000/salary@sha256:00ff").unwrap());
        });
    }
}
