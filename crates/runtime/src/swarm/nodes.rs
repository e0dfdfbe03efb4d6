//! The swarm's nodes as mlbench shows them (`mlbench nodes`), and what they hold for jobs.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::models::{Node, NodeSpecAvailabilityEnum, NodeState, TaskState};
use bollard::query_parameters::{ListNodesOptions, ListTasksOptions};
use serde::Serialize;

use super::spec::GPU_RESOURCE;
use crate::Result;
use crate::docker::JOB_LABEL;

#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub(crate) id: String,
    pub address: String,
    /// `ready`, `down`, `disconnected` or `unknown`.
    pub state: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    pub manager: bool,
    pub cpus: f64,
    pub memory_bytes: u64,
    pub gpus: i64,
    pub labels: BTreeMap<String, String>,
    /// This home's jobs whose task is on the node and not yet ended.
    pub jobs: Vec<i64>,
}

impl NodeRow {
    /// Whether the scheduler places new tasks here.
    pub fn takes_jobs(&self) -> bool {
        self.state == "ready" && self.availability == "active"
    }
}

/// Every node, with the jobs of `home_labels` each one runs; `None` leaves `jobs` empty and
/// spares the look at every task.
pub(crate) async fn list(
    docker: &Docker,
    home_labels: Option<&HashMap<String, String>>,
) -> Result<Vec<NodeRow>> {
    let nodes = docker.list_nodes(None::<ListNodesOptions>).await?;
    let mut jobs_on = match home_labels {
        Some(labels) => jobs_by_node(docker, labels).await?,
        None => HashMap::new(),
    };
    let mut rows: Vec<NodeRow> = nodes.into_iter().map(|n| row(n, &mut jobs_on)).collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The jobs of `home_labels` whose task is on each node (by node id) and not yet ended.
async fn jobs_by_node(
    docker: &Docker,
    home_labels: &HashMap<String, String>,
) -> Result<HashMap<String, Vec<i64>>> {
    // Tasks carry no labels of their own: the job's are in their container spec.
    let tasks = docker.list_tasks(None::<ListTasksOptions>).await?;
    let mut jobs_on: HashMap<String, Vec<i64>> = HashMap::new();
    for task in tasks {
        let live = task
            .status
            .as_ref()
            .and_then(|s| s.state)
            .is_some_and(|s| !super::task_ended(s) && s != TaskState::PENDING);
        let labels = task
            .spec
            .as_ref()
            .and_then(|s| s.container_spec.as_ref())
            .and_then(|c| c.labels.as_ref());
        let job = labels
            .filter(|l| home_labels.iter().all(|(k, v)| l.get(k) == Some(v)))
            .and_then(|l| l.get(JOB_LABEL))
            .and_then(|j| j.parse::<i64>().ok());
        if let (true, Some(node), Some(job)) = (live, task.node_id, job) {
            jobs_on.entry(node).or_default().push(job);
        }
    }
    Ok(jobs_on)
}

fn row(node: Node, jobs_on: &mut HashMap<String, Vec<i64>>) -> NodeRow {
    let id = node.id.unwrap_or_default();
    let description = node.description.unwrap_or_default();
    let resources = description.resources.unwrap_or_default();
    let status = node.status.unwrap_or_default();
    let spec = node.spec.unwrap_or_default();
    let gpus = resources
        .generic_resources
        .unwrap_or_default()
        .into_iter()
        .map(|g| match (g.discrete_resource_spec, g.named_resource_spec) {
            (Some(d), _) if d.kind.as_deref() == Some(GPU_RESOURCE) => d.value.unwrap_or(0),
            (_, Some(n)) if n.kind.as_deref() == Some(GPU_RESOURCE) => 1,
            _ => 0,
        })
        .sum();
    let mut jobs = jobs_on.remove(&id).unwrap_or_default();
    jobs.sort_unstable();
    NodeRow {
        name: description.hostname.unwrap_or_else(|| id.clone()),
        address: status.addr.unwrap_or_default(),
        state: match status.state {
            Some(NodeState::READY) => "ready",
            Some(NodeState::DOWN) => "down",
            Some(NodeState::DISCONNECTED) => "disconnected",
            _ => "unknown",
        }
        .into(),
        availability: match spec.availability {
            Some(NodeSpecAvailabilityEnum::PAUSE) => "pause",
            Some(NodeSpecAvailabilityEnum::DRAIN) => "drain",
            _ => "active",
        }
        .into(),
        manager: node.manager_status.is_some(),
        cpus: resources.nano_cpus.unwrap_or(0) as f64 / 1e9,
        memory_bytes: resources.memory_bytes.unwrap_or(0).max(0) as u64,
        gpus,
        labels: spec.labels.unwrap_or_default().into_iter().collect(),
        jobs,
        id,
    }
}
