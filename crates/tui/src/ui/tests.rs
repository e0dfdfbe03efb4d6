//! Snapshot tests of every screen and popup, at 80×24 and at a large size, on fixed data (no
//! clocks, no random ids).

use std::collections::HashMap;

use chrono::TimeZone;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mlbench_config::keymap::Screen;
use mlbench_domain::output::Stream;
use mlbench_domain::sweep::Goal;
use mlbench_domain::{JobKind, JobSpec, JobState, RuntimeKind, Source};
use mlbench_engine::experiments::compare::{Comparison, TrialRow};
use mlbench_engine::experiments::curves::{Curve, Curves, CurvesOf};
use mlbench_engine::experiments::fit::FitView;
use mlbench_engine::experiments::sweeps::SweepSummary;
use mlbench_engine::{experiments, serving};
use mlbench_ml::model::{DataRef, Model, ModelFile, Rows};
use mlbench_store::{JobRecord, MetricSummary, ProjectRecord};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::{Theme, draw};
use crate::app::{App, Effect, Event, LogLine, Message, update};

fn job(id: i64, state: JobState, command: &[&str], exit: Option<i64>) -> JobRecord {
    JobRecord {
        id,
        spec: JobSpec {
            kind: JobKind::Training,
            deployment: None,
            storage_read_only: false,
            project: "salary".into(),
            machine: "G1".into(),
            image: "mlbench/runtime:0.1.0".into(),
            build_dockerfile: None,
            source: Source::Folder {
                path: "examples/salary".into(),
            },
            command: command.iter().map(std::string::ToString::to_string).collect(),
            env: vec![],
            ports: vec![],
            placement: Vec::new(),
            engine: mlbench_domain::LOCAL_ENGINE.into(),
        },
        runtime: RuntimeKind::Docker,
        state,
        commit: Some("3f2a9c1d8e7b6a5f4e3d2c1b0a998877".into()),
        created_at: format!("2026-11-23T12:{:02}:00Z", 10 + id),
        started_at: Some(format!("2026-11-23T12:{:02}:01Z", 10 + id)),
        finished_at: None,
        exit_code: exit,
        detail: (state == JobState::OomKilled)
            .then(|| "killed for using more memory than its machine type has".into()),
        handle: Some("c0ffee".into()),
        supervisor_pid: None,
        stop_requested: false,
        prune_requested: false,
        sweep: None,
        params: None,
        devices: vec![],
        node: None,
        node_address: None,
        cleaned_at: None,
        snapshot: None,
        trouble: None,
        engine: mlbench_domain::LOCAL_ENGINE.into(),
    }
}

fn fixture() -> App {
    let mut app = App::new(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 12, 30, 0).unwrap());
    let train = ["mlbench", "train", "-i", "data/sal.csv", "-o", "/storage/salary"];
    let metrics = vec![
        MetricSummary {
            key: "Intercept".into(),
            last: 103126.2124,
            min: 103126.2124,
            max: 103126.2124,
            count: 1,
            shape: vec![103126.2124],
        },
        MetricSummary {
            key: "MSE".into(),
            last: 6420.2961,
            min: 6420.2961,
            max: 9000.5,
            count: 3,
            shape: vec![9000.5, 7000.0, 6420.2961],
        },
        MetricSummary {
            key: "Slope".into(),
            last: 1840.8142,
            min: 1840.8142,
            max: 1840.8142,
            count: 1,
            shape: vec![1840.8142],
        },
    ];
    update(
        &mut app,
        Event::Message(Message::Snapshot {
            projects: vec![
                ProjectRecord {
                    name: "iris".into(),
                    created_at: "2026-11-23T12:00:00Z".into(),
                    jobs: 0,
                    running: 0,
                },
                ProjectRecord {
                    name: "salary".into(),
                    created_at: "2026-11-23T12:00:00Z".into(),
                    jobs: 3,
                    running: 1,
                },
            ],
            jobs: vec![
                job(1, JobState::Succeeded, &train, Some(0)),
                job(2, JobState::OomKilled, &["python", "train.py"], Some(137)),
                job(3, JobState::Running, &["sh", "-c", "sleep 600"], None),
            ],
            metrics: HashMap::from([(1, metrics)]),
            sweeps: vec![],
        }),
    );
    app.now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 12, 30, 0).unwrap();
    update(
        &mut app,
        Event::Message(Message::Engine(
            "Docker Engine at unix:///var/run/docker.sock".into(),
        )),
    );
    app
}

/// The store as the refresher would send it next, with the app's metrics. The app's clock
/// stays the fixture's (a snapshot message sets it to now), so ages do not drift.
fn resnapshot(app: &mut App, projects: Vec<ProjectRecord>, jobs: Vec<JobRecord>) {
    let metrics = app.metrics.clone();
    let now = app.now;
    update(
        app,
        Event::Message(Message::Snapshot {
            projects,
            jobs,
            metrics,
            sweeps: app.sweeps.clone(),
        }),
    );
    app.now = now;
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| {
            draw(frame, app, Theme::new(false, Default::default(), false));
        })
        .unwrap();
    terminal.backend().to_string()
}

fn both_sizes(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), render(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_140x40"), render(app, 140, 40));
}

fn select_salary(app: &mut App) {
    update(app, key(KeyCode::Tab));
    update(app, key(KeyCode::Down));
    update(app, key(KeyCode::Tab));
}

#[test]
fn workbench_empty() {
    let app = App::new(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 12, 30, 0).unwrap());
    both_sizes("workbench_empty", &app);
}

#[test]
fn workbench_with_jobs() {
    let mut app = fixture();
    select_salary(&mut app);
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    both_sizes("workbench_with_jobs", &app);
}

#[test]
fn workbench_oom_killed_job() {
    let mut app = fixture();
    select_salary(&mut app);
    update(&mut app, key(KeyCode::Down));
    both_sizes("workbench_oom_killed", &app);
}

/// A job on a swarm shows the node its task runs on, and the runtime says where jobs go.
#[test]
fn workbench_swarm_job_on_its_node() {
    let mut app = fixture();
    let mut jobs = app.jobs.clone();
    for job in &mut jobs {
        job.runtime = RuntimeKind::Swarm;
    }
    jobs[2].node = Some("worker-2".into());
    let projects = app.projects.clone();
    resnapshot(&mut app, projects, jobs);
    update(
        &mut app,
        Event::Message(Message::Engine(
            "Docker Swarm, manager at unix:///run/swarm-manager.sock".into(),
        )),
    );
    // The newest job, the running one, is selected first.
    select_salary(&mut app);
    both_sizes("workbench_swarm_job", &app);
}

#[test]
fn help_popup() {
    let mut app = fixture();
    update(&mut app, key(KeyCode::Char('?')));
    both_sizes("help_workbench", &app);
}

/// The workbench has more keys than an 80x24 screen has rows: the help scrolls.
#[test]
fn help_popup_scrolls_when_it_does_not_fit() {
    let mut app = logs_app();
    update(&mut app, key(KeyCode::Char('?')));
    both_sizes("help_logs", &app);
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Char('?')));
    for _ in 0..30 {
        update(&mut app, key(KeyCode::Char('j')));
    }
    insta::assert_snapshot!("help_workbench_scrolled_80x24", render(&app, 80, 24));
    update(&mut app, key(KeyCode::Char('x')));
    assert!(!app.help);
}

#[test]
fn stop_confirmation() {
    let mut app = fixture();
    select_salary(&mut app);
    update(&mut app, key(KeyCode::Char('x')));
    both_sizes("confirm_stop", &app);
}

#[test]
fn stopping_a_deployment_or_a_sweep_asks_first() {
    let mut app = fixture();
    select_salary(&mut app);
    // `s` on a served job: the worker says which deployment serves it; nothing stops yet.
    assert!(matches!(
        update(&mut app, key(KeyCode::Char('s'))),
        Effect::ToggleServing(_)
    ));
    update(
        &mut app,
        Event::Message(Message::ConfirmStopServing("salary".into())),
    );
    both_sizes("confirm_stop_serving", &app);
    assert_eq!(update(&mut app, key(KeyCode::Char('n'))), Effect::None);
    assert!(app.confirm.is_none(), "any other key keeps it serving");
    update(
        &mut app,
        Event::Message(Message::ConfirmStopServing("salary".into())),
    );
    assert_eq!(
        update(&mut app, key(KeyCode::Char('y'))),
        Effect::StopServing("salary".into())
    );
    // A sweep: x stops it (while it runs), D deletes it whole (once it has ended).
    let mut app = sweep_fixture();
    update(&mut app, key(KeyCode::Char('x')));
    assert!(app.confirm.is_none());
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("sweep 1 has already ended")
    );
    update(&mut app, key(KeyCode::Char('D')));
    both_sizes("confirm_delete_sweep", &app);
    assert_eq!(update(&mut app, key(KeyCode::Char('y'))), Effect::DeleteSweep(1));
    app.sweeps[0].state = "running";
    update(&mut app, key(KeyCode::Char('D')));
    assert!(app.confirm.is_none());
    assert!(app.status.as_deref().unwrap_or("").contains("stop it first (x)"));
    update(&mut app, key(KeyCode::Char('x')));
    assert_eq!(update(&mut app, key(KeyCode::Char('y'))), Effect::StopSweep(1));
}

#[test]
fn a_sweep_says_why_its_trials_wait() {
    let mut app = sweep_fixture();
    app.sweeps[0].state = "running";
    app.sweeps[0].waiting = Some("job 7 waits for 2 vCPU: 0 free, jobs 4, 5 hold 1 each".into());
    let screen = render(&app, 140, 40);
    assert!(screen.contains("▸ sweep 3/3 · waiting:"), "{screen}");
    assert!(screen.contains("waiting job 7 waits for 2 vCPU"), "{screen}");
}

/// The ids of the job list's rows, top to bottom.
fn listed(app: &App) -> Vec<i64> {
    app.project_rows()
        .iter()
        .map(|row| match row {
            crate::app::JobRow::Job(j) | crate::app::JobRow::Trial(j) => j.id,
            crate::app::JobRow::Sweep(s) => -s.sweep,
        })
        .collect()
}

#[test]
fn the_job_list_filters_and_sorts_like_k9s() {
    let mut app = fixture();
    select_salary(&mut app);
    assert_eq!(listed(&app), [3, 2, 1]);
    let typed = |app: &mut App, text: &str| {
        update(app, key(KeyCode::Char('/')));
        update(app, Event::Paste(text.into()));
        update(app, key(KeyCode::Enter));
    };
    typed(&mut app, "python");
    assert_eq!(listed(&app), [2]);
    both_sizes("jobs_filtered", &app);
    // `!` inverts; state and command both count; case does not matter.
    update(&mut app, key(KeyCode::Char('/')));
    update(&mut app, Event::Message(Message::Tick));
    update(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    update(&mut app, Event::Paste("!RUNNING".into()));
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(listed(&app), [2, 1]);
    // Esc clears the filter.
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(listed(&app), [3, 2, 1]);
    // o sorts by id (oldest first), then state; O reverses.
    update(&mut app, key(KeyCode::Char('o')));
    assert_eq!(listed(&app), [1, 2, 3]);
    update(&mut app, key(KeyCode::Char('O')));
    assert_eq!(listed(&app), [3, 2, 1]);
    update(&mut app, key(KeyCode::Char('o')));
    // oom-killed < running < succeeded
    assert_eq!(listed(&app), [2, 3, 1]);
    assert!(render(&app, 140, 40).contains("jobs of salary · by state ↑"));
    // A sweep shows when one of its trials matches, with that trial under it.
    let mut app = sweep_fixture();
    update(&mut app, key(KeyCode::Enter));
    typed(&mut app, "pruned");
    assert_eq!(listed(&app), [-1, 6]);
}

#[test]
fn a_failed_jobs_details_show_the_end_of_its_log() {
    let mut app = fixture();
    select_salary(&mut app);
    // Job 2 ran out of memory: selecting it asks for its log's last lines, once.
    update(&mut app, key(KeyCode::Char('g')));
    let asked = update(&mut app, key(KeyCode::Down));
    assert_eq!(asked, Effect::LoadFailureTail(2));
    assert_eq!(update(&mut app, key(KeyCode::Up)), Effect::None);
    assert_eq!(update(&mut app, key(KeyCode::Down)), Effect::None);
    let tail = (0..10)
        .map(|i| LogLine {
            at: i * 10,
            ts: "2026-11-23T12:20:00.000000000Z".into(),
            stream: if i == 9 { Stream::Stderr } else { Stream::Stdout },
            text: if i == 9 {
                "MemoryError".into()
            } else {
                format!("epoch {i}")
            },
            runs: Vec::new(),
        })
        .collect();
    update(&mut app, Event::Message(Message::FailureTail(2, tail)));
    both_sizes("failed_job_details", &app);
    assert!(render(&app, 140, 40).contains("MemoryError"));
}

#[test]
fn messages_name_the_keys_the_user_set() {
    let mut app = sweep_fixture();
    let config = mlbench_config::Config::parse("[keys]\nstop = [\"Delete\"]\n").unwrap();
    app.keys = std::sync::Arc::new(config.keys);
    app.sweeps[0].state = "running";
    update(&mut app, key(KeyCode::Char('D')));
    let said = app.status.clone().unwrap_or_default();
    assert!(said.contains("stop it first (Delete)"), "{said}");
    let screen = render(&app, 140, 40);
    assert!(screen.contains("Delete stop · D delete"), "{screen}");
}

fn logs_app() -> App {
    let mut app = fixture();
    select_salary(&mut app);
    let generation = app.log_generation;
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.log_generation, generation + 1);
    let lines = (0..60)
        .map(|i| LogLine {
            at: i as u64 * 80,
            ts: format!("2026-11-23T12:20:{:02}.000000000Z", i % 60),
            stream: if i % 10 == 9 {
                Stream::Stderr
            } else {
                Stream::Stdout
            },
            text: if i % 10 == 9 {
                format!("warning {i}: slow epoch")
            } else {
                format!("epoch {i} loss={:.3}", 1.0 / f64::from(i + 1))
            },
            runs: Vec::new(),
        })
        .collect();
    update(
        &mut app,
        Event::Message(Message::LogLines {
            generation: generation + 1,
            lines,
        }),
    );
    app
}

#[test]
fn logs_following() {
    both_sizes("logs_following", &logs_app());
}

#[test]
fn logs_searched_with_timestamps() {
    let mut app = logs_app();
    update(&mut app, key(KeyCode::Char('t')));
    update(&mut app, key(KeyCode::Char('/')));
    for c in "warning".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Char('n')));
    both_sizes("logs_search", &app);
}

#[test]
fn logs_typing_a_search() {
    let mut app = logs_app();
    update(&mut app, key(KeyCode::Char('/')));
    update(&mut app, key(KeyCode::Char('e')));
    both_sizes("logs_typing", &app);
}

/// The filter as it is typed, then applied: the view holds only matching lines, with the count
/// of them over the whole file in its title; a selection says how many lines it holds; the
/// save prompt names what it saves.
#[test]
fn logs_filtered_selected_and_saved() {
    let mut app = logs_app();
    update(&mut app, key(KeyCode::Char('f')));
    for c in "!warning".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    both_sizes("logs_filter_typing", &app);
    update(&mut app, key(KeyCode::Enter));
    let generation = app.log_generation;
    let lines: Vec<LogLine> = (0..30)
        .map(|i| LogLine {
            at: 5_000 + i * 80,
            ts: "2026-11-23T12:21:00.000000000Z".into(),
            stream: Stream::Stdout,
            text: format!("epoch {i} loss={:.3}", 1.0 / (i as f64 + 1.0)),
            runs: Vec::new(),
        })
        .collect();
    update(&mut app, Event::Message(Message::LogLines { generation, lines }));
    update(
        &mut app,
        Event::Message(Message::LogCount {
            generation,
            before_start: 1_204,
        }),
    );
    for c in ['v', 'k', 'k'] {
        update(&mut app, key(KeyCode::Char(c)));
    }
    both_sizes("logs_filtered_selected", &app);
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Char('S')));
    both_sizes("logs_save_prompt", &app);
}

#[test]
fn too_small() {
    insta::assert_snapshot!("too_small", render(&fixture(), 60, 20));
}

/// A full disk holds running jobs' logs back: the status line says so first, and a job whose
/// supervisor could say it in the store shows it in its row and details.
#[test]
fn a_full_disk_shows_in_the_status_line_and_the_stalled_job() {
    let mut app = fixture();
    let line = "the disk holding /home/u/.local/share/mlbench is full (80.0 KiB free): running jobs' logs wait for room; free some space (`mlbench gc` removes what finished jobs left) and try again";
    update(&mut app, Event::Message(Message::DiskFull(Some(line.into()))));
    let running = app
        .jobs
        .iter_mut()
        .find(|j| j.state == JobState::Running)
        .expect("a running job");
    running.trouble = Some("disk full since 14:02".into());
    let id = running.id;
    select_salary(&mut app);
    app.job_row = app
        .project_rows()
        .iter()
        .position(|r| matches!(r, crate::app::JobRow::Job(j) if j.id == id))
        .expect("listed");
    both_sizes("disk_full", &app);
    update(&mut app, Event::Message(Message::DiskFull(None)));
    let screen = render(&app, 140, 40);
    assert!(!screen.lines().last().unwrap().contains("is full"));
}

#[test]
fn what_doctor_finds_wrong_shows_in_the_status_line_until_it_is_mended() {
    let mut app = fixture();
    let line = "disk use: the mlbench home holds 25.0 GiB, above disk_use_warning (20.0 GiB): `mlbench gc --older-than 30d --dry-run` shows what finished jobs left";
    update(&mut app, Event::Message(Message::Health(Some(line.into()))));
    insta::assert_snapshot!("health_in_status_line", render(&app, 120, 24));
    update(&mut app, Event::Message(Message::Health(None)));
    let screen = render(&app, 120, 24);
    assert!(!screen.lines().last().unwrap().contains('⚠'));
}

#[test]
fn a_long_message_gives_way_to_the_help_key() {
    let mut app = fixture();
    update(&mut app, Event::Message(Message::Failed("x".repeat(200))));
    let screen = render(&app, 80, 24);
    let last = screen.lines().last().unwrap();
    assert!(last.ends_with("… ? help \""), "{last}");
}

/// A model file as the trainer writes it, for the charts.
fn model_file(model: Model, features: &[&str], target: &str, version: u32) -> ModelFile {
    ModelFile {
        format_version: mlbench_ml::model::FORMAT_VERSION,
        model,
        features: features.iter().map(|f| (*f).to_string()).collect(),
        target: target.into(),
        metrics: std::collections::BTreeMap::new(),
        rows: Rows { train: 21, test: 0 },
        data: DataRef {
            path: "data.csv".into(),
            sha256: String::new(),
        },
        mlbench_version: "0".into(),
        version: Some(version),
        job: Some(1),
    }
}

fn chart_of(app: &mut App, model: ModelFile, csv: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let fit = experiments::fit::Fit::of_model(1, model, data).unwrap();
    update(app, Event::Message(Message::Chart(Box::new(fit))));
    dir
}

#[test]
fn fit_chart() {
    let mut app = fixture();
    let mut csv = String::from("x,y\n");
    for i in 0..21 {
        let y = 103100.0 + 1850.0 * f64::from(i) + f64::from((i * 7) % 5) * 300.0;
        csv += &format!("{i},{y}\n");
    }
    let linear = Model::Linear {
        intercept: 103126.2124,
        coefficients: vec![1840.8142],
    };
    let _data = chart_of(&mut app, model_file(linear, &["x"], "y", 1), &csv);
    both_sizes("fit_chart", &app);
    // One feature: Tab has nowhere to go, `a` shows actual against predicted.
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.chart_view, FitView::Feature(0));
    update(&mut app, key(KeyCode::Char('a')));
    assert_eq!(app.chart_view, FitView::ActualVsPredicted);
}

#[test]
fn fit_chart_of_three_features() {
    let mut app = fixture();
    // price = 20000 + 150·sqft + 9000·bedrooms − 700·age, exactly.
    let mut csv = String::from("sqft,bedrooms,age,price\n");
    for i in 0..30 {
        let i = f64::from(i);
        let (sqft, bedrooms, age) = (800.0 + 37.0 * i, 1.0 + (i * 7.0) % 5.0, 5.0 + (i * 13.0) % 40.0);
        csv += &format!(
            "{sqft},{bedrooms},{age},{}\n",
            20_000.0 + 150.0 * sqft + 9_000.0 * bedrooms - 700.0 * age
        );
    }
    let linear = Model::Linear {
        intercept: 20_000.0,
        coefficients: vec![150.0, 9_000.0, -700.0],
    };
    let _data = chart_of(
        &mut app,
        model_file(linear, &["sqft", "bedrooms", "age"], "price", 2),
        &csv,
    );
    both_sizes("fit_chart_sqft", &app);
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.chart_view, FitView::Feature(1));
    both_sizes("fit_chart_bedrooms", &app);
    update(&mut app, key(KeyCode::Char('a')));
    both_sizes("fit_chart_actual_vs_predicted", &app);
    let screen = render(&app, 140, 40);
    assert!(
        screen.contains("actual vs predicted · R² 1 over 30 rows"),
        "{screen}"
    );
}

#[test]
fn serving_prompts() {
    let mut app = fixture();
    select_salary(&mut app);
    update(
        &mut app,
        Event::Message(Message::AskPort {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            model: "salary".into(),
        }),
    );
    both_sizes("serve_port_prompt", &app);
    let mut serving = job(
        4,
        JobState::Running,
        &["mlbench", "serve", "-m", "/storage/salary/model.json"],
        None,
    );
    serving.spec.kind = JobKind::Serving;
    serving.spec.deployment = Some("salary".into());
    serving.spec.ports = vec!["8080:8080".parse().unwrap()];
    let mut jobs = app.jobs.clone();
    jobs.push(serving);
    let projects = app.projects.clone();
    resnapshot(&mut app, projects, jobs);
    app.now = fixture().now;
    update(&mut app, key(KeyCode::Esc));
    // The serving panel: three scrapes of the deployment's /metrics.
    for (req_per_s, p99_ms, errors) in [(0.0, None, 0), (120.0, Some(2.5), 0), (480.5, Some(1.25), 3)] {
        let rate = serving::stats::ServingRate {
            req_per_s,
            p50_ms: p99_ms.map(|p: f64| p / 5.0),
            p99_ms,
            errors,
        };
        update(
            &mut app,
            Event::Message(Message::Traffic(std::collections::BTreeMap::from([(
                "salary".to_string(),
                rate,
            )]))),
        );
    }
    insta::assert_snapshot!("serving_traffic_140x40", render(&app, 140, 40));
    update(&mut app, key(KeyCode::Char('p')));
    for (input, output, salary) in [
        ("25", "149146.5664", 149146.5664),
        ("30", "158350.6372", 158350.6372),
    ] {
        update(
            &mut app,
            Event::Message(Message::Prediction(crate::app::PredictionRow {
                project: "salary".into(),
                input: input.into(),
                output: Ok(output.into()),
                point: Some((input.parse().unwrap(), salary)),
                latency_ms: 1.5,
            })),
        );
    }
    update(&mut app, key(KeyCode::Char('3')));
    both_sizes("predict_prompt", &app);
}

#[test]
fn prompts_validate_and_submit() {
    let mut app = fixture();
    select_salary(&mut app);
    update(
        &mut app,
        Event::Message(Message::AskPort {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            model: "salary".into(),
        }),
    );
    update(&mut app, key(KeyCode::Char('9')));
    update(&mut app, key(KeyCode::Char('9')));
    update(&mut app, key(KeyCode::Char('9')));
    update(&mut app, key(KeyCode::Char('9')));
    update(&mut app, key(KeyCode::Char('9')));
    assert_eq!(update(&mut app, key(KeyCode::Enter)), crate::app::Effect::None);
    assert_eq!(
        app.status.as_deref(),
        Some("container port 808099999 is out of range 1–65535")
    );
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Backspace));
    }
    let effect = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        effect,
        crate::app::Effect::Deploy {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            model: "salary".into(),
            port: "8080:8080".parse().unwrap()
        }
    );
    assert!(app.prompt.is_none());
    update(&mut app, key(KeyCode::Char('p')));
    assert!(
        app.status
            .as_deref()
            .unwrap()
            .contains("nothing serves in salary"),
        "{:?}",
        app.status
    );
}

/// With engines in the config the form has an engine field, each engine with what it has free
/// (or why it does not answer) beside it; the job goes where it says.
#[test]
fn the_form_chooses_an_engine_when_the_config_names_some() {
    use crate::form::{Field, FormOptions, FormRequest, FormText};
    use mlbench_engine::jobs::choices::{EngineChoice, MachineChoice};
    let mut app = fixture();
    select_salary(&mut app);
    let choice = |name: &str, label: &str| EngineChoice {
        name: name.into(),
        label: label.into(),
    };
    let options = FormOptions {
        project: "salary".into(),
        machines: vec![MachineChoice {
            name: "G1".into(),
            label: "1 vCPU · 1.70 GiB · 0 GPU".into(),
            unfit: None,
        }],
        engines: vec![
            choice("local", "2 vCPU · 23.5 GiB free"),
            choice("gpu1", "8 vCPU · 60.0 GiB free"),
            choice(
                "gpu2",
                "engine gpu2 (ssh://gpu2.lab) does not answer over ssh: Connection refused",
            ),
            choice("auto", "where the machine type fits now"),
        ],
        engine_row: 0,
        images: vec!["mlbench/runtime:0.1.0".into()],
        text: FormText {
            repo: "/".into(),
            command: "mlbench train -i data/sal.csv -o /storage/salary".into(),
            ..FormText::default()
        },
        machine_row: 0,
        image_row: 0,
    };
    update(&mut app, Event::Message(Message::FormOptions(Box::new(options))));
    for _ in 0..2 {
        update(&mut app, key(KeyCode::Up));
    }
    assert_eq!(app.form.as_ref().unwrap().focus, Field::Engine);
    update(&mut app, key(KeyCode::Right));
    both_sizes("new_experiment_form_engines", &app);
    let request = app.form.as_ref().unwrap().request().unwrap();
    let FormRequest::Job(job) = request else {
        panic!("a job: {request:?}")
    };
    assert_eq!(job.engine, "gpu1");
}

/// A job that ran on a remote engine says so in its row (where the table has room) and in its
/// details.
#[test]
fn a_remote_job_names_its_engine() {
    let mut app = fixture();
    for job in &mut app.jobs {
        if job.id == 3 {
            job.engine = "gpu1".into();
        }
    }
    select_salary(&mut app);
    both_sizes("workbench_remote_job", &app);
}

#[test]
fn new_experiment_form() {
    use crate::form::{Field, FormOptions, FormText};
    use mlbench_engine::jobs::choices::MachineChoice;
    let mut app = fixture();
    select_salary(&mut app);
    let text = FormText {
        repo: "/".into(),
        command: "mlbench train -i data/sal.csv -o /storage/salary".into(),
        ports: "8080:99999".into(),
        ..FormText::default()
    };
    let options = FormOptions {
        project: "salary".into(),
        machines: vec![
            MachineChoice {
                name: "G1".into(),
                label: "1 vCPU · 1.70 GiB · 0 GPU".into(),
                unfit: None,
            },
            MachineChoice {
                name: "P4000".into(),
                label: "8 vCPU · 30 GiB · 1 GPU".into(),
                unfit: Some("needs 8 vCPU (host has 2), 1 GPU (host has 0)".into()),
            },
        ],
        engines: Vec::new(),
        engine_row: 0,
        images: vec!["mlbench/runtime:0.1.0".into()],
        text,
        machine_row: 1,
        image_row: 0,
    };
    update(&mut app, Event::Message(Message::FormOptions(Box::new(options))));
    both_sizes("new_experiment_form", &app);
    // The form opens on the repo (machine and image are chosen); Enter moves on, and on the
    // last field submits only when every field is right.
    for _ in 0..6 {
        update(&mut app, key(KeyCode::Enter));
    }
    assert_eq!(app.form.as_ref().unwrap().focus, Field::Metric);
    assert_eq!(update(&mut app, key(KeyCode::Enter)), crate::app::Effect::None);
    assert_eq!(
        app.form.as_ref().unwrap().focus,
        Field::Machine,
        "the first bad field gets the focus"
    );
    update(&mut app, key(KeyCode::Left));
    update(&mut app, key(KeyCode::Esc));
    assert!(app.form.is_none());
    assert_eq!(app.status.as_deref(), Some("cancelled: nothing was created"));
}

/// Alt-Enter submits from any field, and the new job's log opens once it is submitted.
#[test]
fn alt_enter_submits_and_follows_the_new_job() {
    let mut app = fixture();
    select_salary(&mut app);
    let options = crate::form::tests::options();
    update(&mut app, Event::Message(Message::FormOptions(Box::new(options))));
    let submitted = update(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
    );
    assert!(matches!(submitted, Effect::Submit(_)), "{submitted:?}");
    let opened = update(&mut app, Event::Message(Message::Submitted(9)));
    assert!(matches!(opened, Effect::FollowLog { job: 9, .. }), "{opened:?}");
    assert_eq!(app.screen, Screen::Logs);
    // A plain Enter submits without opening anything.
    assert_eq!(
        update(&mut app, Event::Message(Message::Submitted(10))),
        Effect::None
    );
}

fn mouse(kind: crossterm::event::MouseEventKind, column: u16, row: u16) -> Event {
    Event::Mouse(crossterm::event::MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn clicks_select_and_the_wheel_moves() {
    use crossterm::event::{MouseButton, MouseEventKind};
    let mut app = fixture();
    update(&mut app, Event::Resize(80, 24));
    // The second project's row: the panel's border, then one row a project.
    update(&mut app, mouse(MouseEventKind::Down(MouseButton::Left), 3, 2));
    assert_eq!(app.selected_project().unwrap().name, "salary");
    // The third job's row in the jobs table: border and header first.
    update(&mut app, mouse(MouseEventKind::Down(MouseButton::Left), 30, 4));
    assert_eq!(app.selected_job().unwrap().id, 1);
    update(&mut app, mouse(MouseEventKind::ScrollUp, 30, 10));
    assert_eq!(app.selected_job().unwrap().id, 2);
    assert_eq!(
        update(&mut app, key(KeyCode::Char('m'))),
        crate::app::Effect::Mouse(false)
    );
}

#[test]
fn colours_come_from_the_config() {
    let config = mlbench_config::Config::parse("[colors]\nrunning = \"lightblue\"\n").unwrap();
    let theme = Theme::new(true, config.colors, config.light);
    assert_eq!(
        theme.state(JobState::Running).fg,
        Some(ratatui::style::Color::LightBlue)
    );
    assert_eq!(theme.state(JobState::Failed).fg, Some(ratatui::style::Color::Red));
}

/// The light theme trades pale colours for darker ones; text keeps the terminal's colour.
#[test]
fn the_light_theme_darkens_pale_colours() {
    use ratatui::style::Color;
    let config = mlbench_config::Config::parse("theme = \"light\"\n").unwrap();
    let light = Theme::new(true, config.colors, config.light);
    assert_eq!(light.fg(Color::Yellow).fg, Some(Color::Indexed(130)));
    assert_eq!(light.fg(Color::Cyan).fg, Some(Color::Blue));
    assert_eq!(light.state(JobState::Queued).fg, Some(Color::DarkGray));
    assert_eq!(light.fg(Color::Red).fg, Some(Color::Red));
    let dark = Theme::new(true, config.colors, false);
    assert_eq!(dark.fg(Color::Yellow).fg, Some(Color::Yellow));
    let err = mlbench_config::Config::parse("theme = \"solarized\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("theme: \"solarized\" is not a theme"), "{err}");
}

#[test]
fn a_build_shows_a_progress_bar() {
    let mut app = fixture();
    let progress = crate::app::Progress::from_line("Step 2/5 : COPY rootfs/ /");
    update(&mut app, Event::Message(Message::Progress(progress)));
    let screen = render(&app, 80, 24);
    assert!(
        screen
            .lines()
            .last()
            .unwrap()
            .starts_with("\"[████░░░░░░] Step 2/5 : COPY rootfs/ /"),
        "{screen}"
    );
}

#[test]
fn sparklines_span_the_series_range() {
    assert_eq!(super::workbench::sparkline(&[1.0, 2.0, 3.0, 8.0]), "▁▂▃█");
    assert_eq!(super::workbench::sparkline(&[5.0, 5.0]), "▄▄");
}

/// Regression: with wrap on, a followed log whose lines wrap showed the last *lines* and the
/// widget clipped the bottom rows, so the newest line never showed.
#[test]
fn wrapped_logs_show_the_newest_line_at_the_bottom() {
    let mut app = logs_app();
    let long = |i: usize| LogLine {
        at: 100_000 + i as u64 * 200,
        ts: "2026-11-23T12:21:00.000000000Z".into(),
        stream: Stream::Stdout,
        text: format!("step {i} {}", "x".repeat(150)),
        runs: Vec::new(),
    };
    let mut lines: Vec<LogLine> = (0..30).map(long).collect();
    lines.push(LogLine {
        text: "the newest line".into(),
        ..long(30)
    });
    let generation = app.log_generation;
    update(&mut app, Event::Message(Message::LogLines { generation, lines }));
    update(&mut app, key(KeyCode::Char('w')));
    for (width, height) in [(80, 24), (140, 40)] {
        let screen = render(&app, width, height);
        let rows: Vec<&str> = screen.lines().collect();
        // The last row is the status line and the one above it the border.
        assert!(
            rows[rows.len() - 3].contains("the newest line"),
            "{width}x{height}:\n{screen}"
        );
    }
}

/// Regression: the selected project was kept by its row, so a project created elsewhere that
/// sorts earlier switched the view to another project.
#[test]
fn a_new_project_that_sorts_first_keeps_the_selection() {
    let mut app = fixture();
    select_salary(&mut app);
    assert_eq!(app.selected_project().unwrap().name, "salary");
    let mut projects = app.projects.clone();
    projects.insert(
        0,
        ProjectRecord {
            name: "aardvark".into(),
            created_at: "2026-11-23T12:29:00Z".into(),
            jobs: 0,
            running: 0,
        },
    );
    let jobs = app.jobs.clone();
    resnapshot(&mut app, projects, jobs);
    assert_eq!(app.selected_project().unwrap().name, "salary");
    assert_eq!(app.selected_job().unwrap().id, 3);
}

/// Regression: the follower was keyed by job only, so Esc then Enter on the same job in one
/// batch of events left the old follower running and every line arrived twice.
#[test]
fn reopening_a_log_follows_anew_and_ignores_the_old_followers_lines() {
    let mut app = logs_app();
    let old = app.log_generation;
    assert_eq!(update(&mut app, key(KeyCode::Esc)), Effect::StopFollowing);
    let reopened = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        reopened,
        Effect::FollowLog {
            job: 3,
            generation: old + 1,
            filter: None,
        }
    );
    for generation in [old, old + 1] {
        update(
            &mut app,
            Event::Message(Message::LogLines {
                generation,
                lines: vec![LogLine {
                    at: 0,
                    ts: "2026-11-23T12:21:00.000000000Z".into(),
                    stream: Stream::Stdout,
                    text: "once".into(),
                    runs: Vec::new(),
                }],
            }),
        );
    }
    assert_eq!(app.logs.as_ref().unwrap().lines.len(), 1);
}

/// The iris project with a sweep of three depths: two trials succeeded, one pruned.
fn sweep_fixture() -> App {
    let mut app = fixture();
    let trial = |id: i64, depth: &str, state: JobState| JobRecord {
        spec: JobSpec {
            project: "iris".into(),
            ..job(id, state, &["mlbench", "train", "--max-depth", depth], Some(0)).spec
        },
        sweep: Some(1),
        params: Some([("max_depth".to_string(), depth.to_string())].into()),
        ..job(id, state, &[], Some(0))
    };
    let mut jobs = app.jobs.clone();
    jobs.push(trial(4, "1", JobState::Succeeded));
    jobs.push(trial(5, "2", JobState::Succeeded));
    jobs.push(trial(6, "3", JobState::Pruned));
    let sweeps = vec![SweepSummary {
        sweep: 1,
        project: "iris".into(),
        state: "finished",
        metric: "Accuracy".into(),
        goal: Goal::Maximize,
        trials: 3,
        done: 3,
        running: 0,
        best: Some(5),
        best_value: Some(0.9722),
        first_job: Some(4),
        command: ["mlbench", "train", "--max-depth", "{max_depth}"]
            .map(String::from)
            .to_vec(),
        created_at: "2026-11-23T12:20:00Z".into(),
        detail: None,
        waiting: None,
    }];
    let (projects, metrics) = (app.projects.clone(), app.metrics.clone());
    update(
        &mut app,
        Event::Message(Message::Snapshot {
            projects,
            jobs,
            metrics,
            sweeps,
        }),
    );
    // A snapshot sets the clock; the pictures need a fixed one.
    app.now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 12, 30, 0).unwrap();
    app
}

fn comparison() -> Comparison {
    let row = |point: usize, job: i64, depth: &str, accuracy: f64, state: &str| TrialRow {
        point,
        job: Some(job),
        params: [("max_depth".to_string(), depth.to_string())].into(),
        state: state.into(),
        metrics: [
            ("Accuracy".to_string(), accuracy),
            ("Nodes".to_string(), 2.0 * accuracy * 3.0),
        ]
        .into(),
        last: Some(accuracy),
        best: Some(accuracy),
        duration_secs: Some(2),
    };
    Comparison {
        sweep: 1,
        metric: "Accuracy".into(),
        goal: Goal::Maximize,
        best: Some(5),
        params: vec!["max_depth".into()],
        other_metrics: vec!["Nodes".into()],
        trials: vec![
            row(0, 4, "1", 0.5833, "succeeded"),
            row(1, 5, "2", 0.9722, "succeeded"),
            row(2, 6, "3", 0.61, "pruned"),
        ],
    }
}

#[test]
fn a_sweep_is_one_row_that_expands_to_its_trials() {
    let mut app = sweep_fixture();
    // iris is the first project; its sweep is its only row.
    assert!(matches!(app.selected_row(), Some(crate::app::JobRow::Sweep(_))));
    both_sizes("workbench_sweep_collapsed", &app);
    assert_eq!(update(&mut app, key(KeyCode::Enter)), Effect::None);
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.selected_job().map(|j| j.id), Some(6));
    assert_eq!(app.selected_sweep(), Some(1));
    both_sizes("workbench_sweep_expanded", &app);
    assert_eq!(
        update(&mut app, key(KeyCode::Char('C'))),
        Effect::LoadCompare {
            sweep: 1,
            all_columns: false,
            reload: false
        }
    );
}

#[test]
fn the_compare_screen_sorts_and_opens_a_trials_log() {
    let mut app = sweep_fixture();
    update(
        &mut app,
        Event::Message(Message::Comparison {
            comparison: comparison(),
            reload: false,
        }),
    );
    assert_eq!(app.screen, Screen::Compare);
    both_sizes("compare", &app);
    // o sorts by the first column, again by the next: job, then max_depth, then Accuracy last.
    for _ in 0..3 {
        update(&mut app, key(KeyCode::Char('o')));
    }
    update(&mut app, key(KeyCode::Char('O')));
    let view = app.compare.as_ref().unwrap();
    assert_eq!(view.sort, Some(("Accuracy last".to_string(), true)));
    let order: Vec<_> = view.comparison.trials.iter().map(|t| t.job).collect();
    assert_eq!(order, [Some(5), Some(6), Some(4)]);
    both_sizes("compare_sorted", &app);
    assert_eq!(
        update(&mut app, key(KeyCode::Char('a'))),
        Effect::LoadCompare {
            sweep: 1,
            all_columns: true,
            reload: true
        }
    );
    // The selection stayed on its trial through the sorts; the top row is now the best.
    assert_eq!(app.compare.as_ref().unwrap().row, 2);
    update(&mut app, key(KeyCode::Char('g')));
    let open = update(&mut app, key(KeyCode::Enter));
    assert!(matches!(open, Effect::FollowLog { job: 5, .. }), "{open:?}");
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(
        app.screen,
        Screen::Compare,
        "Esc from a trial's log goes back to the comparison"
    );
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Workbench);
}

#[test]
fn a_reload_landing_after_esc_does_not_bring_a_screen_back() {
    let mut app = sweep_fixture();
    let opened = |comparison| Message::Comparison {
        comparison,
        reload: false,
    };
    update(&mut app, Event::Message(opened(comparison())));
    // The store moved on while the comparison was shown: a reload is asked for...
    let jobs = app.jobs.clone();
    let projects = app.projects.clone();
    let sweeps = app.sweeps.clone();
    let asked = update(
        &mut app,
        Event::Message(Message::Snapshot {
            projects,
            jobs,
            metrics: HashMap::new(),
            sweeps,
        }),
    );
    assert!(
        matches!(asked, Effect::LoadCompare { reload: true, .. }),
        "{asked:?}"
    );
    // ...the user leaves before it lands.
    update(&mut app, key(KeyCode::Esc));
    update(
        &mut app,
        Event::Message(Message::Comparison {
            comparison: comparison(),
            reload: true,
        }),
    );
    assert_eq!(app.screen, Screen::Workbench);
    assert!(app.compare.is_none());
    // The same for curves.
    update(&mut app, key(KeyCode::Char('c')));
    let curves = Curves {
        of: CurvesOf::Sweep(1),
        title: "sweep 1: loss".into(),
        metrics: vec!["loss".into()],
        curves: [("loss".to_string(), Vec::new())].into(),
        against: Default::default(),
    };
    update(
        &mut app,
        Event::Message(Message::Curves {
            curves: curves.clone(),
            reload: false,
        }),
    );
    assert_eq!(app.screen, Screen::Curves);
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, Event::Message(Message::Curves { curves, reload: true }));
    assert_eq!(app.screen, Screen::Workbench);
    assert!(app.curves.is_none());
}

#[test]
fn metric_curves_overlay_a_sweeps_trials() {
    let mut app = sweep_fixture();
    let series = |scale: f64| -> Vec<(f64, f64)> {
        (0..20)
            .map(|i| (f64::from(i), scale / f64::from(i + 1)))
            .collect()
    };
    let curve = |label: &str, scale: f64, best: bool| Curve {
        label: label.into(),
        points: series(scale),
        best,
    };
    let curves = Curves {
        of: CurvesOf::Sweep(1),
        title: "sweep 1: loss".into(),
        metrics: vec!["loss".into(), "accuracy".into()],
        curves: [
            (
                "loss".to_string(),
                vec![curve("4: q=1", 1.0, true), curve("5: q=2", 2.0, false)],
            ),
            ("accuracy".to_string(), vec![curve("4: q=1", 0.5, true)]),
        ]
        .into(),
        against: Default::default(),
    };
    update(
        &mut app,
        Event::Message(Message::Curves {
            curves,
            reload: false,
        }),
    );
    assert_eq!(app.screen, Screen::Curves);
    both_sizes("curves_sweep", &app);
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.curves.as_ref().unwrap().metric(), "accuracy");
    assert_eq!(
        update(&mut app, key(KeyCode::Char('e'))),
        Effect::ExportCurves {
            of: CurvesOf::Sweep(1),
            metric: "accuracy".into()
        }
    );
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        update(app, key(KeyCode::Char(c)));
    }
}

#[test]
fn projects_are_created_and_deleted_from_the_workbench() {
    let mut app = fixture();
    update(&mut app, key(KeyCode::Char('P')));
    type_text(&mut app, "Churn Model");
    both_sizes("new_project_bad_name", &app);
    assert_eq!(update(&mut app, key(KeyCode::Enter)), Effect::None);
    assert!(app.status.as_deref().unwrap().contains("is not valid"));
    update(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    type_text(&mut app, "salary");
    assert_eq!(update(&mut app, key(KeyCode::Enter)), Effect::None, "it exists");
    update(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL)),
    );
    type_text(&mut app, "churn");
    both_sizes("new_project", &app);
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        Effect::CreateProject("churn".into())
    );
    update(&mut app, Event::Message(Message::ProjectCreated("churn".into())));
    let mut projects = app.projects.clone();
    projects.insert(
        0,
        ProjectRecord {
            name: "churn".into(),
            created_at: "2026-11-23T12:29:00Z".into(),
            jobs: 0,
            running: 0,
        },
    );
    let jobs = app.jobs.clone();
    resnapshot(&mut app, projects, jobs);
    assert_eq!(app.selected_project().unwrap().name, "churn");

    // Deleting asks for the name.
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Char('D')));
    type_text(&mut app, "chur");
    both_sizes("delete_project", &app);
    assert_eq!(update(&mut app, key(KeyCode::Enter)), Effect::None);
    assert!(app.prompt.is_some());
    type_text(&mut app, "n");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        Effect::DeleteProject("churn".into())
    );
}

#[test]
fn finished_jobs_are_deleted_after_a_question_and_live_ones_refuse() {
    let mut app = fixture();
    select_salary(&mut app);
    assert_eq!(update(&mut app, key(KeyCode::Char('D'))), Effect::None);
    assert_eq!(
        app.status.as_deref(),
        Some("job 3 is running: stop it first (x), then delete it")
    );
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Char('D')));
    both_sizes("confirm_delete_job", &app);
    assert_eq!(update(&mut app, key(KeyCode::Char('y'))), Effect::DeleteJob(2));
    update(&mut app, key(KeyCode::Char('D')));
    assert_eq!(update(&mut app, key(KeyCode::Char('n'))), Effect::None);
}

/// A running job's CPU and memory against its machine type: gauges and a CPU sparkline in its
/// details, a column in the wide job list, memory near the limit in warning colours.
#[test]
fn a_running_jobs_cpu_and_memory_show_against_its_limits() {
    use mlbench_engine::jobs::usage::JobUsage;
    let mut app = fixture();
    select_salary(&mut app);
    for (i, cpus) in [None, Some(0.2), Some(0.5), Some(0.9), Some(0.7)]
        .into_iter()
        .enumerate()
    {
        update(
            &mut app,
            Event::Message(Message::Usage(vec![JobUsage {
                job: 3,
                project: "salary".into(),
                machine: "G1".into(),
                cpus,
                cpu_limit: 1.0,
                memory_bytes: (1500 + 40 * i as u64) << 20,
                memory_limit: 1741 << 20,
            }])),
        );
    }
    both_sizes("workbench_usage", &app);
    // A round without the job (it ended) takes its gauges away.
    update(&mut app, Event::Message(Message::Usage(Vec::new())));
    assert!(app.usage.is_empty());
}

/// `b` lists the top of the project's /storage; Enter goes into a folder or previews a file
/// (text, or its size when binary), `e` copies it out, Esc closes the preview, goes up a folder
/// (back on the one it came from), then closes the browser.
#[test]
fn the_storage_browser_goes_through_folders_previews_and_copies_out() {
    use mlbench_engine::projects::storage::{Entry, Folder, Preview};
    let mut app = fixture();
    select_salary(&mut app);
    assert_eq!(
        update(&mut app, key(KeyCode::Char('b'))),
        Effect::LoadStorage {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            folder: None,
            select: None
        }
    );
    let at = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 12, 10, 0).unwrap();
    let entry = |path: &str, bytes, is_folder| Entry {
        path: path.into(),
        bytes,
        modified: Some(at),
        link: None,
        special: None,
        is_folder,
    };
    let listed = |path: &str, entries: Vec<Entry>, select: Option<&str>| {
        Event::Message(Message::Storage {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            folder: Folder {
                path: path.into(),
                entries,
            },
            select: select.map(str::to_string),
        })
    };
    update(
        &mut app,
        listed(
            "/storage",
            vec![
                entry("/storage/iris", 0, true),
                entry("/storage/salary", 0, true),
                entry("/storage/notes.txt", 120, false),
            ],
            None,
        ),
    );
    both_sizes("storage_top", &app);
    update(&mut app, key(KeyCode::Down));
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        Effect::LoadStorage {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            folder: Some("/storage/salary".into()),
            select: None
        }
    );
    update(
        &mut app,
        listed(
            "/storage/salary",
            vec![
                entry("/storage/salary/versions", 0, true),
                entry("/storage/salary/model.json", 412, false),
                entry("/storage/salary/model.pkl", 2_048, false),
            ],
            None,
        ),
    );
    both_sizes("storage_list", &app);
    update(&mut app, key(KeyCode::Down));
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        Effect::PreviewStorage {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            path: "/storage/salary/model.json".into()
        }
    );
    update(
        &mut app,
        Event::Message(Message::StoragePreview(Preview {
            path: "/storage/salary/model.json".into(),
            bytes: 412,
            text: Some(vec![
                "{".into(),
                "  \"kind\": \"linear\",".into(),
                "  \"intercept\": 25792.2".into(),
                "}".into(),
            ]),
        })),
    );
    both_sizes("storage_preview", &app);
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Down));
    assert_eq!(
        update(&mut app, key(KeyCode::Char('e'))),
        Effect::CopyOutStorage {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            path: "/storage/salary/model.pkl".into()
        }
    );
    assert_eq!(
        update(&mut app, key(KeyCode::Esc)),
        Effect::LoadStorage {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            folder: Some("/storage".into()),
            select: Some("/storage/salary".into())
        }
    );
    update(
        &mut app,
        listed(
            "/storage",
            vec![entry("/storage/iris", 0, true), entry("/storage/salary", 0, true)],
            Some("/storage/salary"),
        ),
    );
    assert_eq!(
        app.storage.as_ref().map(|v| v.row),
        Some(1),
        "back on the folder it came from"
    );
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Workbench);
}

/// A folder of 300,000 files draws only the rows that fit, around the selected one.
#[test]
fn the_storage_browser_draws_a_huge_folder_by_the_screenful() {
    use mlbench_engine::projects::storage::{Entry, Folder};
    let mut app = fixture();
    select_salary(&mut app);
    let entries = (0..300_000)
        .map(|i| Entry {
            path: format!("/storage/shards/part-{i:06}.csv"),
            bytes: 100,
            modified: None,
            link: None,
            special: None,
            is_folder: false,
        })
        .collect();
    update(
        &mut app,
        Event::Message(Message::Storage {
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            project: "salary".into(),
            folder: Folder {
                path: "/storage/shards".into(),
                entries,
            },
            select: Some("/storage/shards/part-150000.csv".into()),
        }),
    );
    let screen = render(&app, 140, 40);
    assert!(screen.contains("▶part-150000.csv"), "{screen}");
    assert!(screen.contains("300000 entries"), "{screen}");
}
