//! The new-experiment form: machine type, image, code, command, environment, ports, and for a
//! sweep its parameters and metric. Every field is checked as it is typed; the message stands
//! beside it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mlbench_domain::job::shell_words;
use mlbench_domain::sweep::{Goal, GridAxis, Space, SweepSpec};
use mlbench_domain::{EnvVar, JobSpec, PortMapping, Source};
use mlbench_engine::experiments::sweeps::SweepRequest;
use mlbench_engine::jobs::choices::{EngineChoice, JobChoices, MachineChoice};
use mlbench_engine::jobs::{ImageSource, JobRequest, Latest};

use super::line_input::{self, Edit};

/// The form's fields, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Machine,
    /// Where it runs: shown only when the config names engines.
    Engine,
    Image,
    Repo,
    Ref,
    Command,
    Env,
    Ports,
    /// `NAME=V1,V2` or `NAME=A..B` words: with any, the form starts a sweep.
    Parameters,
    /// A sweep's metric and goal: `Accuracy max`, `loss min`.
    Metric,
}

impl Field {
    pub(crate) const ALL: [Field; 10] = [
        Field::Machine,
        Field::Engine,
        Field::Image,
        Field::Repo,
        Field::Ref,
        Field::Command,
        Field::Env,
        Field::Ports,
        Field::Parameters,
        Field::Metric,
    ];

    /// The last field: Enter there submits the form.
    pub(crate) const LAST: Field = Field::Metric;

    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Machine => "machine",
            Field::Engine => "engine",
            Field::Image => "image",
            Field::Repo => "repo",
            Field::Ref => "ref",
            Field::Command => "command",
            Field::Env => "env",
            Field::Ports => "ports",
            Field::Parameters => "parameters",
            Field::Metric => "metric",
        }
    }

    /// The field an engine refusal names (`Error::field`), if the form has it.
    pub(crate) fn named(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    fn row(self) -> usize {
        Field::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// Where the job's image comes from, as the form offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageChoice {
    Local(String),
    /// Built from the repo's `Dockerfile` before the job runs.
    Build,
    /// Pulled by the name typed in the field.
    Pull(String),
}

/// `typed`'s last path component completed from the folders there, as a shell's Tab does: one
/// folder whole (with `/`), several to what they share; `None` when that adds nothing (a URL,
/// no such folder, or already as far as they agree). Reads the folder: the worker runs it.
pub(crate) fn complete_folder(typed: &str) -> Option<String> {
    if typed.contains("://") || typed.contains('@') {
        return None;
    }
    let (dir, start) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let listed = if dir.is_empty() { "." } else { dir };
    let entries = std::fs::read_dir(expand_home(listed)).ok()?;
    let mut folders: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.starts_with(start) && (!name.starts_with('.') || start.starts_with('.')))
        .collect();
    folders.sort();
    let completed = match folders.as_slice() {
        [] => return None,
        [one] => format!("{dir}{one}/"),
        several => format!("{dir}{}", shared_prefix(several)),
    };
    (completed != typed).then_some(completed)
}

/// `~/…` as the home folder it names.
fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

/// The longest start all `names` share.
fn shared_prefix(names: &[String]) -> String {
    let first = names.first().map_or("", String::as_str);
    let mut len = first.len();
    for name in names {
        len = len.min(
            first
                .bytes()
                .zip(name.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    first[..len].to_string()
}

/// What the user types: one string per text field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FormText {
    /// The image name to pull, when the image choice is "pull".
    pub(crate) pull: String,
    pub(crate) repo: String,
    pub(crate) reference: String,
    pub(crate) command: String,
    pub(crate) env: String,
    pub(crate) ports: String,
    pub(crate) parameters: String,
    pub(crate) metric: String,
}

impl FormText {
    /// The text of a typed field (machine has none; image has the name to pull).
    pub(crate) fn get(&self, field: Field) -> Option<&String> {
        match field {
            Field::Machine | Field::Engine => None,
            Field::Image => Some(&self.pull),
            Field::Repo => Some(&self.repo),
            Field::Ref => Some(&self.reference),
            Field::Command => Some(&self.command),
            Field::Env => Some(&self.env),
            Field::Ports => Some(&self.ports),
            Field::Parameters => Some(&self.parameters),
            Field::Metric => Some(&self.metric),
        }
    }

    fn get_mut(&mut self, field: Field) -> Option<&mut String> {
        match field {
            Field::Machine | Field::Engine => None,
            Field::Image => Some(&mut self.pull),
            Field::Repo => Some(&mut self.repo),
            Field::Ref => Some(&mut self.reference),
            Field::Command => Some(&mut self.command),
            Field::Env => Some(&mut self.env),
            Field::Ports => Some(&mut self.ports),
            Field::Parameters => Some(&mut self.parameters),
            Field::Metric => Some(&mut self.metric),
        }
    }

    /// What a new experiment starts from, as it would be typed again.
    fn of_latest(latest: &Latest) -> FormText {
        match latest {
            Latest::Job(spec) => FormText::of_spec(spec),
            Latest::Sweep(sweep) => FormText {
                parameters: grid_text(sweep),
                metric: format!("{} {}", sweep.metric, goal_word(sweep.goal)),
                ..FormText::of_spec(&sweep.base)
            },
        }
    }

    /// A job's spec as it would be typed again.
    fn of_spec(spec: &JobSpec) -> FormText {
        let (repo, reference) = match &spec.source {
            Source::Folder { path } => (path.display().to_string(), String::new()),
            Source::Git { url, reference } => (url.clone(), reference.clone().unwrap_or_default()),
        };
        FormText {
            pull: String::new(),
            repo,
            reference,
            command: shell_words(&spec.command),
            env: spec
                .env
                .iter()
                .map(|e| format!("{}={}", e.name, e.value))
                .collect::<Vec<_>>()
                .join(" "),
            ports: spec
                .ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            parameters: String::new(),
            metric: String::new(),
        }
    }
}

/// A sweep's grid as the parameters field shows it (random draws have no such text).
fn grid_text(sweep: &SweepSpec) -> String {
    match &sweep.space {
        Space::Grid { axes } => axes
            .iter()
            .map(|a| format!("{}={}", a.name, a.values.join(",")))
            .collect::<Vec<_>>()
            .join(" "),
        Space::Random { .. } => String::new(),
    }
}

fn goal_word(goal: Goal) -> &'static str {
    match goal {
        Goal::Minimize => "min",
        Goal::Maximize => "max",
    }
}

/// `Accuracy max` / `loss min` (or maximize, minimize).
fn parse_metric(text: &str) -> Result<(String, Goal), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [name, "max" | "maximize"] => Ok(((*name).to_string(), Goal::Maximize)),
        [name, "min" | "minimize"] => Ok(((*name).to_string(), Goal::Minimize)),
        [] => Err("a sweep's metric and goal: Accuracy max, or loss min".into()),
        _ => Err("the metric's name, then max or min: Accuracy max".into()),
    }
}

/// What the form submits: one job, or (with parameters) a sweep.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FormRequest {
    Job(JobRequest),
    Sweep(SweepRequest),
}

/// What the form offers, loaded in the background when it opens.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FormOptions {
    pub(crate) project: String,
    pub(crate) machines: Vec<MachineChoice>,
    /// None when the config names no engine: the field is not shown.
    pub(crate) engines: Vec<EngineChoice>,
    pub(crate) engine_row: usize,
    pub(crate) images: Vec<String>,
    /// The text to start from: the project's latest job, so Enter through the form runs it again.
    pub(crate) text: FormText,
    pub(crate) machine_row: usize,
    pub(crate) image_row: usize,
}

impl FormOptions {
    pub(crate) fn new(project: String, choices: JobChoices) -> FormOptions {
        FormOptions {
            project,
            text: choices
                .latest
                .as_ref()
                .map(FormText::of_latest)
                .unwrap_or_default(),
            machines: choices.machines,
            engines: choices.engines,
            engine_row: choices.engine_row,
            images: choices.images,
            machine_row: choices.machine_row,
            image_row: choices.image_row,
        }
    }
}

/// The problem of each field that has one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldErrors(Vec<(Field, String)>);

impl FieldErrors {
    pub(crate) fn of(&self, field: Field) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, e)| e.as_str())
    }

    fn first(self) -> Option<(Field, String)> {
        self.0.into_iter().min_by_key(|(f, _)| f.row())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Form {
    pub(crate) options: FormOptions,
    pub(crate) machine_row: usize,
    pub(crate) engine_row: usize,
    pub(crate) image_row: usize,
    pub(crate) text: FormText,
    pub(crate) focus: Field,
    /// The field last edited and the cursor's byte offset in its text.
    cursor: (Field, usize),
    /// What the engine said when the form was last submitted, beside its field.
    pub(crate) refusal: Option<(Field, String)>,
    /// Letters typed on the image field: the first local image holding them is chosen.
    pub(crate) image_query: String,
}

impl Form {
    pub(crate) fn new(options: FormOptions) -> Form {
        Form {
            machine_row: options.machine_row,
            engine_row: options.engine_row,
            image_row: options.image_row,
            text: options.text.clone(),
            focus: Field::Repo,
            cursor: (Field::Repo, usize::MAX),
            refusal: None,
            image_query: String::new(),
            options,
        }
    }

    pub(crate) fn machine(&self) -> Option<&MachineChoice> {
        self.options.machines.get(self.machine_row)
    }

    /// The engine chosen; none when the config names no engine (the job runs locally).
    pub(crate) fn engine(&self) -> Option<&EngineChoice> {
        self.options.engines.get(self.engine_row)
    }

    /// The fields shown: the engine only when there are engines to choose from.
    pub(crate) fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        Field::ALL
            .into_iter()
            .filter(|f| *f != Field::Engine || !self.options.engines.is_empty())
    }

    /// The field below `field` (the last stays).
    pub(crate) fn next_field(&self, field: Field) -> Field {
        self.fields().skip_while(|f| *f != field).nth(1).unwrap_or(field)
    }

    /// The field above `field` (the first stays).
    pub(crate) fn previous_field(&self, field: Field) -> Field {
        self.fields().take_while(|f| *f != field).last().unwrap_or(field)
    }

    /// The local images, then "build from the repo's Dockerfile", then "pull a name".
    pub(crate) fn image(&self) -> ImageChoice {
        let local = self.options.images.len();
        match self.image_row {
            i if i < local => ImageChoice::Local(self.options.images[i].clone()),
            i if i == local => ImageChoice::Build,
            _ => ImageChoice::Pull(self.text.pull.trim().to_string()),
        }
    }

    fn typing_here(&self) -> bool {
        match self.focus {
            Field::Machine | Field::Engine => false,
            Field::Image => matches!(self.image(), ImageChoice::Pull(_)),
            _ => true,
        }
    }

    fn runs_mlbench_image(&self) -> bool {
        matches!(self.image(), ImageChoice::Local(name) if name == mlbench_runtime::images::runtime_tag())
    }

    /// Moves a list field (machine, image) by `step`.
    pub(crate) fn cycle(&mut self, step: isize) {
        let (row, len) = match self.focus {
            Field::Machine => (&mut self.machine_row, self.options.machines.len()),
            Field::Engine => (&mut self.engine_row, self.options.engines.len()),
            Field::Image => (&mut self.image_row, self.options.images.len() + 2),
            _ => return,
        };
        if len > 0 {
            *row = (*row as isize + step).rem_euclid(len as isize) as usize;
        }
        self.refusal = None;
    }

    /// Where the cursor is in `field`'s text: the end, until the field is edited.
    pub(crate) fn cursor_in(&self, field: Field) -> usize {
        let len = self.text.get(field).map_or(0, String::len);
        match self.cursor {
            (at_field, at) if at_field == field && at <= len => at,
            _ => len,
        }
    }

    /// Type-ahead on the image list: a letter narrows the query and chooses the first local
    /// image holding it (case aside), Backspace widens it again. `Ignored` for other keys.
    fn type_ahead(&mut self, key: KeyEvent) -> Edit {
        match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => self.image_query.push(c),
            KeyCode::Backspace if !self.image_query.is_empty() => {
                self.image_query.pop();
            }
            _ => return Edit::Ignored,
        }
        let query = self.image_query.to_lowercase();
        if let Some(row) = self
            .options
            .images
            .iter()
            .position(|image| image.to_lowercase().contains(&query))
        {
            self.image_row = row;
        }
        self.refusal = None;
        Edit::Changed
    }

    /// A completion of `typed` (see [`complete_folder`]) arrived: taken while the repo field
    /// still holds what was completed; with nothing to complete, Tab moves on as usual.
    pub(crate) fn completed(&mut self, typed: &str, completion: Option<String>) {
        if self.focus != Field::Repo || self.text.repo != typed {
            return;
        }
        match completion {
            Some(completed) => {
                self.cursor = (Field::Repo, completed.len());
                self.text.repo = completed;
                self.refusal = None;
            }
            None => self.focus = self.next_field(self.focus),
        }
    }

    /// Edits the focused field's text with a line-editing key; ←→ on the image field still
    /// choose the image, even while a name to pull is typed.
    pub(crate) fn edit(&mut self, key: KeyEvent) -> Edit {
        if self.focus == Field::Image && !self.typing_here() {
            return self.type_ahead(key);
        }
        let choosing = self.focus == Field::Image
            && matches!(key.code, KeyCode::Left | KeyCode::Right)
            && key.modifiers.is_empty();
        if !self.typing_here() || choosing {
            return Edit::Ignored;
        }
        let field = self.focus;
        let mut cursor = self.cursor_in(field);
        let Some(text) = self.text.get_mut(field) else {
            return Edit::Ignored;
        };
        let edit = line_input::edit(text, &mut cursor, key);
        self.cursor = (field, cursor);
        if edit == Edit::Changed {
            self.refusal = None;
        }
        edit
    }

    /// Pasted text goes into the focused field at the cursor.
    pub(crate) fn paste(&mut self, pasted: &str) {
        if !self.typing_here() {
            return;
        }
        let field = self.focus;
        let mut cursor = self.cursor_in(field);
        if let Some(text) = self.text.get_mut(field) {
            line_input::paste(text, &mut cursor, pasted);
            self.cursor = (field, cursor);
            self.refusal = None;
        }
    }

    /// The problem with each field, if any: what is checked as typed, and what the engine
    /// refused.
    pub(crate) fn errors(&self) -> FieldErrors {
        let mut errors = Vec::new();
        match self.machine() {
            None => errors.push((Field::Machine, "no machine types".to_string())),
            Some(m) => errors.extend(m.unfit.clone().map(|e| (Field::Machine, e))),
        }
        if self.image() == ImageChoice::Pull(String::new()) {
            errors.push((Field::Image, "type the name of the image to pull".into()));
        }
        let repo = self.text.repo.trim();
        let is_url = repo.contains("://") || repo.contains('@');
        if repo.is_empty() {
            errors.push((Field::Repo, "a folder or git URL".into()));
        } else if !is_url && !std::path::Path::new(repo).is_dir() {
            errors.push((Field::Repo, "no such folder".into()));
        }
        match split_command(&self.text.command) {
            Err(e) => errors.push((Field::Command, e)),
            // A user's image may say what it runs; mlbench's own does not.
            Ok(words) if words.is_empty() && self.runs_mlbench_image() => {
                errors.push((Field::Command, "the command to run".into()));
            }
            Ok(_) => {}
        }
        errors.extend(
            words(&self.text.env)
                .find_map(|w| w.parse::<EnvVar>().err())
                .map(|e| (Field::Env, e.to_string())),
        );
        errors.extend(
            words(&self.text.ports)
                .find_map(|w| w.parse::<PortMapping>().err())
                .map(|e| (Field::Ports, e.to_string())),
        );
        errors.extend(
            words(&self.text.parameters)
                .find_map(|w| w.parse::<GridAxis>().err())
                .map(|e| (Field::Parameters, e.to_string())),
        );
        if !self.text.parameters.trim().is_empty()
            && let Err(e) = parse_metric(&self.text.metric)
        {
            errors.push((Field::Metric, e));
        }
        if let Some(refusal) = &self.refusal
            && !errors.iter().any(|(f, _)| *f == refusal.0)
        {
            errors.push(refusal.clone());
        }
        FieldErrors(errors)
    }

    /// The checked request, or the first field's problem.
    pub(crate) fn request(&self) -> Result<FormRequest, (Field, String)> {
        if let Some(problem) = self.errors().first() {
            return Err(problem);
        }
        let job = self.job_request();
        if self.text.parameters.trim().is_empty() {
            return Ok(FormRequest::Job(job));
        }
        let axes = words(&self.text.parameters)
            .map(str::parse::<GridAxis>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (Field::Parameters, e.to_string()))?;
        let (metric, goal) = parse_metric(&self.text.metric).map_err(|e| (Field::Metric, e))?;
        Ok(FormRequest::Sweep(SweepRequest {
            job,
            space: Space::Grid { axes },
            metric,
            goal,
            parallel: None,
            early_stop: None,
        }))
    }

    fn job_request(&self) -> JobRequest {
        JobRequest {
            project: self.options.project.clone(),
            machine: self.machine().map(|m| m.name.clone()),
            image: match self.image() {
                ImageChoice::Local(name) => ImageSource::Named(name),
                ImageChoice::Build => ImageSource::Build {
                    dockerfile: "Dockerfile".into(),
                    tag: None,
                },
                ImageChoice::Pull(name) => ImageSource::Pull(name),
            },
            repo: self.text.repo.trim().to_string(),
            reference: Some(self.text.reference.trim().to_string()).filter(|r| !r.is_empty()),
            command: split_command(&self.text.command).unwrap_or_default(),
            env: words(&self.text.env).map(str::to_string).collect(),
            ports: words(&self.text.ports).map(str::to_string).collect(),
            placement: Vec::new(),
            engine: self
                .engine()
                .map_or_else(|| mlbench_domain::LOCAL_ENGINE.to_string(), |e| e.name.clone()),
            force: false,
        }
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
}

/// Splits a command line into argv the way a shell would for plain words, quotes and a
/// backslash outside them (no expansion): `sh -c 'echo hi'` → [sh, -c, echo hi]. It reads back
/// what [`shell_words`] writes.
pub(crate) fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\\') => {
                let escaped = chars.next().ok_or("a backslash ends the command")?;
                word.get_or_insert_with(String::new).push(escaped);
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Choices for a form that submits as it is: the workbench's tests use them too.
    pub(crate) fn options() -> FormOptions {
        FormOptions {
            project: "salary".into(),
            machines: vec![
                MachineChoice {
                    name: "G1".into(),
                    label: "1 vCPU · 1.70 GiB · 0 GPU".into(),
                    unfit: None,
                },
                MachineChoice {
                    name: "A100".into(),
                    label: "12 vCPU · 90 GiB · 1 GPU".into(),
                    unfit: Some("needs 1 GPU (host has 0)".into()),
                },
            ],
            engines: Vec::new(),
            engine_row: 0,
            images: vec!["mlbench/runtime:0.1.0".into(), "busybox:1".into()],
            text: FormText {
                repo: "/".into(),
                command: "mlbench train -i data/sal.csv".into(),
                ..FormText::default()
            },
            machine_row: 0,
            image_row: 0,
        }
    }

    #[test]
    fn commands_split_like_a_shell_and_join_back() {
        assert_eq!(
            split_command("sh -c 'echo hi; exit 3'").unwrap(),
            ["sh", "-c", "echo hi; exit 3"]
        );
        assert_eq!(split_command("a \"b c\" ''").unwrap(), ["a", "b c", ""]);
        assert!(split_command("a 'b").is_err());
        for typed in ["sh -c 'echo hi'", r"echo 'it'\''s' \$HOME ''"] {
            let words = split_command(typed).unwrap();
            assert_eq!(split_command(&shell_words(&words)).unwrap(), words, "{typed}");
        }
        assert_eq!(split_command(r"echo 'it'\''s'").unwrap(), ["echo", "it's"]);
    }

    #[test]
    fn the_image_field_types_ahead_and_the_repo_field_completes_folders() {
        let mut form = Form::new(options());
        form.focus = Field::Image;
        assert_eq!(form.image(), ImageChoice::Local("mlbench/runtime:0.1.0".into()));
        for c in "BUSY".chars() {
            form.edit(KeyEvent::from(KeyCode::Char(c)));
        }
        assert_eq!(form.image(), ImageChoice::Local("busybox:1".into()));
        for _ in 0..4 {
            form.edit(KeyEvent::from(KeyCode::Backspace));
        }
        form.edit(KeyEvent::from(KeyCode::Char('m')));
        assert_eq!(form.image(), ImageChoice::Local("mlbench/runtime:0.1.0".into()));
        // Tab completes a folder in the repo field: one whole, several to what they share.
        let dir = tempfile::tempdir().unwrap();
        for folder in ["salary", "sales-2025", "sales-2026", ".hidden"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        std::fs::write(dir.path().join("salad.txt"), "").unwrap();
        let root = dir.path().display().to_string();
        let complete = |typed: String| complete_folder(&typed);
        assert_eq!(complete(format!("{root}/sala")), Some(format!("{root}/salary/")));
        assert_eq!(
            complete(format!("{root}/sale")),
            Some(format!("{root}/sales-202"))
        );
        assert_eq!(
            complete(format!("{root}/sales-202")),
            None,
            "nothing more to complete"
        );
        assert_eq!(complete(format!("{root}/nope")), None);
        assert_eq!(complete(format!("{root}/.h")), Some(format!("{root}/.hidden/")));
        // A completion lands while the field still holds what was typed; none moves on.
        form.focus = Field::Repo;
        form.text.repo = format!("{root}/sala");
        form.completed(&format!("{root}/sala"), Some(format!("{root}/salary/")));
        assert_eq!(
            (form.text.repo.clone(), form.focus),
            (format!("{root}/salary/"), Field::Repo)
        );
        form.completed(&format!("{root}/salary/"), None);
        assert_eq!(form.focus, form.next_field(Field::Repo));
    }

    #[test]
    fn parameters_make_the_form_a_sweep_that_needs_a_metric() {
        let mut form = Form::new(options());
        form.machine_row = 0;
        form.text.command = "mlbench train --max-depth {max_depth}".into();
        form.text.parameters = "max_depth=1..".into();
        assert_eq!(
            form.errors().of(Field::Parameters),
            Some("the end of --grid max_depth \"\" is not a number")
        );
        form.text.parameters = "max_depth=1..3 criterion=gini,entropy".into();
        assert_eq!(form.request().unwrap_err().0, Field::Metric);
        form.text.metric = "Accuracy sideways".into();
        assert_eq!(
            form.errors().of(Field::Metric),
            Some("the metric's name, then max or min: Accuracy max")
        );
        form.text.metric = "Accuracy max".into();
        let Ok(FormRequest::Sweep(sweep)) = form.request() else {
            panic!("no sweep request");
        };
        assert_eq!(
            (sweep.metric.as_str(), sweep.goal, sweep.space.len()),
            ("Accuracy", Goal::Maximize, 6)
        );
        // A sweep's spec comes back into the form as it was typed, values listed.
        let spec = SweepSpec {
            base: JobSpec {
                kind: mlbench_domain::JobKind::Training,
                deployment: None,
                storage_read_only: false,
                project: "salary".into(),
                machine: "G1".into(),
                image: "mlbench/runtime:0.1.0".into(),
                build_dockerfile: None,
                source: Source::Folder { path: "/".into() },
                command: sweep.job.command.clone(),
                env: vec![],
                ports: vec![],
                placement: Vec::new(),
                engine: mlbench_domain::LOCAL_ENGINE.into(),
            },
            space: sweep.space.clone(),
            metric: sweep.metric.clone(),
            goal: sweep.goal,
            parallel: None,
            early_stop: None,
        };
        let text = FormText::of_latest(&Latest::Sweep(spec));
        assert_eq!(
            (
                text.parameters.as_str(),
                text.metric.as_str(),
                text.command.as_str()
            ),
            (
                "max_depth=1,2,3 criterion=gini,entropy",
                "Accuracy max",
                "mlbench train --max-depth {max_depth}"
            )
        );
    }

    fn type_char(form: &mut Form, c: char) {
        form.edit(KeyEvent::new(
            KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        ));
    }

    #[test]
    fn a_field_is_edited_at_its_cursor_and_the_image_field_still_chooses() {
        use crossterm::event::KeyModifiers;
        let press = |form: &mut Form, code, modifiers| form.edit(KeyEvent::new(code, modifiers));
        let mut form = Form::new(options());
        form.focus = Field::Command;
        form.text.command = "python train.py".into();
        press(&mut form, KeyCode::Char('w'), KeyModifiers::CONTROL);
        assert_eq!(form.text.command, "python ");
        form.paste("src/train.py\n");
        press(&mut form, KeyCode::Home, KeyModifiers::NONE);
        press(&mut form, KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(form.text.command, "xpython src/train.py");
        // Another field's cursor starts at its end.
        form.focus = Field::Env;
        type_char(&mut form, 'A');
        assert_eq!(
            (form.text.env.as_str(), form.cursor_in(Field::Command)),
            ("A", 20)
        );
        form.focus = Field::Image;
        assert_eq!(press(&mut form, KeyCode::Left, KeyModifiers::NONE), Edit::Ignored);
    }

    #[test]
    fn fields_are_checked_as_typed() {
        let mut form = Form::new(options());
        assert_eq!(form.errors(), FieldErrors::default());
        form.focus = Field::Ports;
        for c in "8080:99999".chars() {
            type_char(&mut form, c);
        }
        assert_eq!(
            form.errors().of(Field::Ports),
            Some("container port 99999 is out of range 1–65535")
        );
        form.focus = Field::Machine;
        form.cycle(1);
        assert_eq!(form.errors().of(Field::Machine), Some("needs 1 GPU (host has 0)"));
        assert_eq!(form.request().unwrap_err().0, Field::Machine);
        form.cycle(1);
        form.text.ports = "8080:8080".into();
        let Ok(FormRequest::Job(request)) = form.request() else {
            panic!("no job request");
        };
        assert_eq!(
            (request.machine.as_deref(), request.command.len()),
            (Some("G1"), 4)
        );
        assert_eq!(request.image, ImageSource::Named("mlbench/runtime:0.1.0".into()));
        form.focus = Field::Image;
        form.cycle(2);
        assert_eq!(form.image(), ImageChoice::Build);
        form.cycle(1);
        assert_eq!(
            form.errors().of(Field::Image),
            Some("type the name of the image to pull")
        );
        for c in "python:3.11".chars() {
            type_char(&mut form, c);
        }
        assert_eq!(form.image(), ImageChoice::Pull("python:3.11".into()));
        form.text.repo = "/no/such/folder".into();
        assert_eq!(form.errors().of(Field::Repo), Some("no such folder"));
    }

    #[test]
    fn a_users_image_may_run_its_own_command_and_mlbenchs_may_not() {
        let mut form = Form::new(options());
        form.text.command.clear();
        assert_eq!(form.errors().of(Field::Command), Some("the command to run"));
        form.focus = Field::Image;
        form.cycle(1);
        assert_eq!(form.image(), ImageChoice::Local("busybox:1".into()));
        assert_eq!(form.errors().of(Field::Command), None);
        let Ok(FormRequest::Job(request)) = form.request() else {
            panic!("no job request");
        };
        assert!(request.command.is_empty());
    }

    #[test]
    fn a_refusal_stands_beside_its_field_until_the_field_changes() {
        let mut form = Form::new(options());
        form.refusal = Some((Field::Ports, "host port 8080 on 127.0.0.1 is not free".into()));
        assert_eq!(form.request().unwrap_err().0, Field::Ports);
        form.focus = Field::Ports;
        type_char(&mut form, ' ');
        assert_eq!(form.errors().of(Field::Ports), None);
    }
}
