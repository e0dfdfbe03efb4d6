//! `mlbench serve`, `deploy`, `deployments` and `predict`.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use mlbench_domain::{JobKind, PortMapping, Source};
use mlbench_engine::serving::client;
use mlbench_engine::serving::deploy::{self, DeployRequest, ModelDeployment, Readiness, url_of};
use mlbench_engine::serving::pins::{self, Target};
use mlbench_engine::serving::stats::{self, ServingRate};
use mlbench_engine::{Engine, experiments};
use serde::Serialize;

use super::table;
use crate::{Error, Result};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct DeployArgs {
    #[command(subcommand)]
    action: Option<DeployAction>,
    #[arg(long)]
    project: Option<String>,
    /// The model to serve with mlbench's server: /storage/<MODEL>/model.json of the project.
    #[arg(long, conflicts_with = "command")]
    model: Option<String>,
    /// The deployment's name (default: the model's).
    #[arg(long)]
    name: Option<String>,
    /// Serve this kept version of the model (see `mlbench models`) instead of following the
    /// current one.
    #[arg(long, value_name = "N", requires = "model", value_parser = clap::value_parser!(u32).range(1..))]
    version: Option<u32>,
    /// [HOST_IP:]HOST_PORT:CONTAINER_PORT
    #[arg(long, default_value = "8080:8080")]
    port: String,
    #[arg(long)]
    machine: Option<String>,
    /// Containers on consecutive host ports, all ready before deploy returns.
    #[arg(long, default_value_t = 1)]
    replicas: u16,
    /// Image of a user's own server (with --repo and a command).
    #[arg(long)]
    image: Option<String>,
    #[arg(long, default_value = ".")]
    repo: String,
    #[arg(long = "ref")]
    reference: Option<String>,
    /// Readiness for a user's server: GET this path (default: a TCP connect).
    #[arg(long)]
    health_path: Option<String>,
    /// Seconds to wait for every replica to be ready.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// The Docker Engine to serve on (`mlbench engines`); mlbench's server reads the model from
    /// the project's storage there.
    #[arg(long, default_value = "local")]
    engine: String,
    /// A user's own server command, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum DeployAction {
    /// Stop a deployment's replicas.
    Stop {
        name: String,
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(..=86_400))]
        grace: Option<u64>,
    },
    /// Move a running deployment to the kept version before the one it serves.
    Rollback { name: String },
    /// Forget a stopped deployment: its serving jobs with their logs, and its pin.
    Rm { name: String },
    /// Move a running deployment to a kept version, or back to following the current model.
    Pin {
        name: String,
        /// A version number from `mlbench models`, or `current`.
        version: String,
    },
}

pub(crate) async fn deploy(engine: &Engine, args: DeployArgs) -> Result<()> {
    match args.action {
        Some(DeployAction::Stop { name, grace }) => {
            let grace = Duration::from_secs(grace.unwrap_or(engine.config.stop_grace_secs));
            for (job, state) in deploy::stop_deployment(engine, None, &name, grace).await? {
                println!("job {job} {state}");
            }
            return Ok(());
        }
        Some(DeployAction::Rollback { name }) => {
            return move_deployment(engine, &name, Target::Previous).await;
        }
        Some(DeployAction::Rm { name }) => {
            let removed = deploy::remove_deployment(engine, &name).await?;
            let jobs: Vec<String> = removed.iter().map(i64::to_string).collect();
            println!("removed deployment {name} (job {})", jobs.join(", "));
            return Ok(());
        }
        Some(DeployAction::Pin { name, version }) => {
            return move_deployment(engine, &name, version.parse()?).await;
        }
        None => {}
    }
    let project = args
        .project
        .ok_or_else(|| Error::Invalid("--project is needed to deploy".into()))?;
    let port: PortMapping = args.port.parse()?;
    let runtime =
        mlbench_engine::engines::runtime_for(engine, &args.engine, args.machine.as_deref(), &mut |notice| {
            eprintln!("mlbench: {notice}");
        })
        .await?;
    let (name, replicas) = match (args.model, args.command.is_empty()) {
        (Some(model), true) => {
            let request = ModelDeployment {
                project,
                model,
                name: args.name,
                port,
                machine: args.machine,
                image: args.image,
                version: args.version,
                replicas: args.replicas,
                timeout: Duration::from_secs(args.timeout),
            };
            deploy::deploy_model(engine, &runtime, request, &mut super::shown::say).await?
        }
        (None, false) => {
            let name = args.name.ok_or_else(|| {
                Error::field(
                    "name",
                    Error::Invalid("--name is needed for a deployment of your own server".into()),
                )
            })?;
            let image = args.image.ok_or_else(|| {
                Error::field(
                    "image",
                    Error::Invalid("--image is needed for a deployment of your own server".into()),
                )
            })?;
            let source = Source::parse(&args.repo, args.reference);
            let request = DeployRequest {
                template: deploy::serving_spec(engine, &project, args.machine, image, source, args.command),
                name: name.clone(),
                port,
                replicas: args.replicas,
                readiness: args.health_path.map_or(Readiness::Tcp, Readiness::Http),
                timeout: Duration::from_secs(args.timeout),
            };
            let replicas = deploy::deploy(engine, &runtime, request, &mut super::shown::say).await?;
            (name, replicas)
        }
        _ => {
            return Err(Error::Invalid(
                "give either --model NAME (mlbench's server) or --image, --repo and a command after `--` (your own)".into(),
            ));
        }
    };
    for replica in &replicas {
        eprintln!("deployment {name}: job {} ready at {}", replica.job, replica.url);
    }
    println!(
        "{}",
        replicas
            .iter()
            .map(|r| r.url.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

async fn move_deployment(engine: &Engine, name: &str, target: Target) -> Result<()> {
    let moved = pins::move_deployment(engine, name, target).await?;
    let following = if target == Target::Current {
        " (following the current model)"
    } else {
        ""
    };
    println!(
        "deployment {name}: version {} -> {}{following}, {} replica{}",
        moved.from,
        moved.to,
        moved.replicas,
        if moved.replicas == 1 { "" } else { "s" }
    );
    Ok(())
}

pub(crate) async fn models(engine: &Engine, project: Option<&str>, on: &str, json: bool) -> Result<()> {
    let models = experiments::models::list(engine, project, on).await?;
    if json {
        return table::print_json(&models);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut rows = Vec::new();
    for model in &models {
        if model.versions.is_empty() {
            rows.push(vec![
                model.project.clone(),
                model.name.clone(),
                "-".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                "written before versions were kept".into(),
            ]);
        }
        for v in model.versions.iter().rev() {
            let current = if model.current == Some(v.version) { "*" } else { "" };
            let metrics: Vec<String> = v
                .metrics
                .iter()
                .map(|(k, m)| format!("{k}={}", mlbench_domain::numfmt::compact(*m)))
                .collect();
            rows.push(vec![
                model.project.clone(),
                model.name.clone(),
                format!("{}{current}", v.version),
                v.kind.to_string(),
                format!("{} ago", mlbench_domain::timefmt::short_duration(now - v.written)),
                v.job.map_or_else(|| "-".into(), |job| job.to_string()),
                format!("{} {}", v.data, v.data_sha256.get(..12).unwrap_or("")),
                metrics.join(" "),
            ]);
        }
    }
    table::print(
        &[
            "PROJECT", "MODEL", "VERSION", "KIND", "WRITTEN", "JOB", "DATA", "METRICS",
        ],
        &rows,
    );
    Ok(())
}

#[derive(Serialize)]
struct DeploymentRow {
    name: String,
    project: String,
    replicas: usize,
    running: usize,
    urls: Vec<String>,
    jobs: Vec<i64>,
    command: String,
    /// Requests a second, latency and errors over the listing's window, its replicas summed
    /// (none: not running, or a server without `/metrics`).
    traffic: Option<ServingRate>,
}

/// How long `deployments` watches the traffic of the running ones.
const TRAFFIC_WINDOW: Duration = Duration::from_secs(1);

/// Each running deployment's traffic over [`TRAFFIC_WINDOW`], watched all at once.
async fn traffic(engine: &Engine) -> Result<BTreeMap<String, ServingRate>> {
    let deployments = stats::served_deployments(&engine.store.live_jobs()?);
    let mut first = BTreeMap::new();
    for (name, replicas) in &deployments {
        if let Some(scrape) = stats::scrape_replicas(replicas).await {
            first.insert(name.clone(), scrape);
        }
    }
    if first.is_empty() {
        return Ok(BTreeMap::new());
    }
    let started = std::time::Instant::now();
    tokio::time::sleep(TRAFFIC_WINDOW).await;
    let mut rates = BTreeMap::new();
    for (name, earlier) in first {
        if let Some(later) = stats::scrape_replicas(&deployments[&name]).await {
            let seconds = started.elapsed().as_secs_f64();
            rates.insert(name, stats::rate(&earlier, &later, seconds));
        }
    }
    Ok(rates)
}

/// Running deployments; with `all`, stopped ones too.
pub(crate) async fn list(engine: &Engine, all: bool, json: bool) -> Result<()> {
    mlbench_engine::reconcile(&engine.home, &engine.store)?;
    let mut traffic = traffic(engine).await?;
    let mut groups: BTreeMap<String, Vec<mlbench_store::JobRecord>> = BTreeMap::new();
    for job in engine.store.jobs(None)? {
        if let (JobKind::Serving, Some(name)) = (job.spec.kind, job.spec.deployment.clone()) {
            groups.entry(name).or_default().push(job);
        }
    }
    let rows: Vec<DeploymentRow> = groups
        .into_iter()
        .filter(|(_, jobs)| all || jobs.iter().any(|j| !j.state.is_final()))
        .map(|(name, jobs)| {
            // The latest start of a deployment is what it is now.
            let live: Vec<&mlbench_store::JobRecord> = jobs.iter().filter(|j| !j.state.is_final()).collect();
            let shown: Vec<&mlbench_store::JobRecord> = if live.is_empty() {
                jobs.last().into_iter().collect()
            } else {
                live
            };
            DeploymentRow {
                project: shown[0].spec.project.clone(),
                replicas: shown.len(),
                running: shown
                    .iter()
                    .filter(|j| j.state == mlbench_domain::JobState::Running)
                    .count(),
                urls: shown
                    .iter()
                    .flat_map(|j| j.spec.ports.iter().map(|p| url_of(j, p)))
                    .collect(),
                jobs: shown.iter().map(|j| j.id).collect(),
                command: shown[0].spec.command_text(),
                traffic: traffic.remove(&name),
                name,
            }
        })
        .collect();
    if json {
        return table::print_json(&rows);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} ms"));
            let (rate, p50, p99, errors) = match &r.traffic {
                Some(t) => (
                    format!("{:.1}", t.req_per_s),
                    ms(t.p50_ms),
                    ms(t.p99_ms),
                    t.errors.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            vec![
                r.name.clone(),
                r.project.clone(),
                format!("{}/{}", r.running, r.replicas),
                r.urls.join(" "),
                rate,
                p50,
                p99,
                errors,
                r.jobs.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
                r.command.clone(),
            ]
        })
        .collect();
    table::print(
        &[
            "NAME", "PROJECT", "RUNNING", "URL", "REQ/S", "P50", "P99", "ERRORS", "JOBS", "COMMAND",
        ],
        &table_rows,
    );
    Ok(())
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    /// A running deployment to ask (default: the one running deployment).
    #[arg(long, conflicts_with = "url")]
    deployment: Option<String>,
    /// Any server speaking the tutorial's `POST /predict {"exp": x}` (or mlbench's own).
    #[arg(long)]
    url: Option<String>,
    /// Print the answers as JSON.
    #[arg(long)]
    json: bool,
    /// The inputs, as many per prediction as the model has: `25 30` (two predictions of a
    /// one-input model), `1500 3 20` or `sqft=1500 bedrooms=3 age=20` (one of a three-input
    /// model), or a JSON object `{"sqft": 1500, ...}`.
    #[arg(required = true)]
    values: Vec<String>,
}

#[derive(Serialize)]
struct Answer {
    input: String,
    #[serde(flatten)]
    output: serde_json::Value,
    latency_ms: f64,
}

pub(crate) async fn predict(engine: &Engine, args: PredictArgs) -> Result<()> {
    let url = match (args.url, args.deployment) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Some(name)) => deploy::deployment_url(engine, &name)?,
        (None, None) => deploy::deployment_url(engine, &deploy::only_deployment(engine)?)?,
    };
    let model = client::describe(&url).await?;
    let rows = model.rows(&args.values)?;
    let mut answers = Vec::new();
    for row in &rows {
        let prediction = client::predict(&url, &model, row).await?;
        let input = row.iter().map(f64::to_string).collect::<Vec<_>>().join(" ");
        if !args.json {
            println!("{input} -> {}", super::shown::out(&prediction.shown()));
        }
        answers.push(Answer {
            input,
            output: prediction.output,
            latency_ms: prediction.latency_ms,
        });
    }
    if args.json {
        table::print_json(&answers)?;
    }
    Ok(())
}
