//! `mlbench nodes`: the swarm's nodes, from its manager.

use mlbench_engine::{Engine, connect_swarm, home_labels};

use super::table;
use crate::Result;

pub(crate) async fn list(engine: &Engine, json: bool) -> Result<()> {
    let swarm = connect_swarm(engine).await?;
    let nodes = swarm.nodes(Some(&home_labels(&engine.home))).await?;
    if json {
        return table::print_json(&nodes);
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let jobs: Vec<String> = n.jobs.iter().map(ToString::to_string).collect();
            vec![
                format!("{}{}", n.name, if n.manager { " (manager)" } else { "" }),
                n.address.clone(),
                n.state.clone(),
                n.availability.clone(),
                mlbench_domain::numfmt::compact(n.cpus),
                mlbench_domain::numfmt::human_bytes(n.memory_bytes),
                n.gpus.to_string(),
                if labels.is_empty() {
                    "-".into()
                } else {
                    labels.join(",")
                },
                if jobs.is_empty() {
                    "-".into()
                } else {
                    jobs.join(",")
                },
            ]
        })
        .collect();
    table::print(
        &[
            "NODE",
            "ADDRESS",
            "STATE",
            "AVAILABILITY",
            "VCPU",
            "MEMORY",
            "GPUS",
            "LABELS",
            "JOBS",
        ],
        &rows,
    );
    Ok(())
}
