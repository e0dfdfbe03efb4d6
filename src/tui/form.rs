//! The new-experiment form: machine type, image, code, command, environment, ports. Every
//! field is checked as it is typed; the message stands beside it.

use crate::domain::{EnvVar, PortMapping};

pub const FIELDS: [&str; 7] = ["machine", "image", "repo", "ref", "command", "env", "ports"];
pub const MACHINE: usize = 0;
pub const IMAGE: usize = 1;
pub const REPO: usize = 2;
pub const REF: usize = 3;
pub const COMMAND: usize = 4;
pub const ENV: usize = 5;
pub const PORTS: usize = 6;

/// Where the job's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    Local(String),
    /// Built from the repo's `Dockerfile` before the job runs.
    Build,
    /// Pulled by the name typed in the field.
    Pull(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MachineChoice {
    pub name: String,
    /// "1 vCPU · 1.70 GiB · 0 GPU"
    pub label: String,
    /// Why this host cannot run it, if it cannot.
    pub unfit: Option<String>,
}

/// What the form offers, loaded in the background when it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct FormOptions {
    pub project: String,
    pub machines: Vec<MachineChoice>,
    pub images: Vec<String>,
    /// Text fields (repo, ref, command, env, ports) and choices to start from: the project's
    /// latest job, so Enter through the form runs it again.
    pub text: [String; 7],
    pub machine: usize,
    pub image: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub options: FormOptions,
    pub machine: usize,
    pub image: usize,
    pub text: [String; 7],
    pub focus: usize,
}

/// What the submit needs, all checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub project: String,
    pub machine: String,
    pub image: ImageChoice,
    pub repo: String,
    pub reference: Option<String>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub ports: Vec<String>,
}

impl Form {
    pub fn new(options: FormOptions) -> Form {
        Form {
            machine: options.machine,
            image: options.image,
            text: options.text.clone(),
            focus: REPO,
            options,
        }
    }

    pub fn machine(&self) -> Option<&MachineChoice> {
        self.options.machines.get(self.machine)
    }

    /// The local images, then "build from the repo's Dockerfile", then "pull a name".
    pub fn image(&self) -> ImageChoice {
        let local = self.options.images.len();
        match self.image {
            i if i < local => ImageChoice::Local(self.options.images[i].clone()),
            i if i == local => ImageChoice::Build,
            _ => ImageChoice::Pull(self.text[IMAGE].trim().to_string()),
        }
    }

    fn typing_here(&self) -> bool {
        self.focus >= REPO || (self.focus == IMAGE && matches!(self.image(), ImageChoice::Pull(_)))
    }

    /// Moves a list field (machine, image) by `step`.
    pub fn cycle(&mut self, step: isize) {
        let (index, len) = match self.focus {
            MACHINE => (&mut self.machine, self.options.machines.len()),
            IMAGE => (&mut self.image, self.options.images.len() + 2),
            _ => return,
        };
        if len > 0 {
            *index = (*index as isize + step).rem_euclid(len as isize) as usize;
        }
    }

    pub fn type_char(&mut self, c: char) {
        if self.typing_here() {
            self.text[self.focus].push(c);
        }
    }

    pub fn backspace(&mut self) {
        if self.typing_here() {
            self.text[self.focus].pop();
        }
    }

    /// The problem with each field, if any.
    pub fn errors(&self) -> [Option<String>; 7] {
        let mut errors: [Option<String>; 7] = Default::default();
        errors[MACHINE] = match self.machine() {
            None => Some("no machine types".into()),
            Some(m) => m.unfit.clone(),
        };
        if self.image() == ImageChoice::Pull(String::new()) {
            errors[IMAGE] = Some("type the name of the image to pull".into());
        }
        let repo = self.text[REPO].trim();
        let is_url = repo.contains("://") || repo.contains('@');
        if repo.is_empty() {
            errors[REPO] = Some("a folder or git URL".into());
        } else if !is_url && !std::path::Path::new(repo).is_dir() {
            errors[REPO] = Some("no such folder".into());
        }
        errors[COMMAND] = match split_command(&self.text[COMMAND]) {
            Err(e) => Some(e),
            Ok(words) if words.is_empty() => Some("the command to run".into()),
            Ok(_) => None,
        };
        errors[ENV] = words(&self.text[ENV]).find_map(|w| w.parse::<EnvVar>().err().map(|e| e.to_string()));
        errors[PORTS] =
            words(&self.text[PORTS]).find_map(|w| w.parse::<PortMapping>().err().map(|e| e.to_string()));
        errors
    }

    /// The checked submission, or the first field's problem.
    pub fn submission(&self) -> Result<Submission, (usize, String)> {
        if let Some((field, error)) = self
            .errors()
            .into_iter()
            .enumerate()
            .find_map(|(i, e)| e.map(|e| (i, e)))
        {
            return Err((field, error));
        }
        Ok(Submission {
            project: self.options.project.clone(),
            machine: self.machine().map(|m| m.name.clone()).unwrap_or_default(),
            image: self.image(),
            repo: self.text[REPO].trim().to_string(),
            reference: Some(self.text[REF].trim().to_string()).filter(|r| !r.is_empty()),
            command: split_command(&self.text[COMMAND]).unwrap_or_default(),
            env: words(&self.text[ENV]).map(str::to_string).collect(),
            ports: words(&self.text[PORTS]).map(str::to_string).collect(),
        })
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
}

/// Splits a command line into argv the way a shell would for plain words and quotes (no
/// expansion): `sh -c 'echo hi'` → [sh, -c, echo hi].
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
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

/// A command as it would be typed again.
pub fn join_command(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", w.replace('\'', "\""))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> FormOptions {
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
            images: vec!["mlbench/runtime:0.1.0".into(), "busybox:1".into()],
            text: [
                String::new(),
                String::new(),
                "/".into(),
                String::new(),
                "mlbench train -i data/sal.csv".into(),
                String::new(),
                String::new(),
            ],
            machine: 0,
            image: 0,
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
        let words = split_command("sh -c 'echo hi'").unwrap();
        assert_eq!(split_command(&join_command(&words)).unwrap(), words);
    }

    #[test]
    fn fields_are_checked_as_typed() {
        let mut form = Form::new(options());
        assert_eq!(form.errors(), <[Option<String>; 7]>::default());
        form.focus = PORTS;
        for c in "8080:99999".chars() {
            form.type_char(c);
        }
        assert_eq!(
            form.errors()[PORTS].as_deref(),
            Some("container port 99999 is out of range 1–65535")
        );
        form.focus = MACHINE;
        form.cycle(1);
        assert_eq!(
            form.errors()[MACHINE].as_deref(),
            Some("needs 1 GPU (host has 0)")
        );
        assert_eq!(form.submission().unwrap_err().0, MACHINE);
        form.cycle(1);
        form.text[PORTS] = "8080:8080".into();
        let submission = form.submission().unwrap();
        assert_eq!((submission.machine.as_str(), submission.command.len()), ("G1", 4));
        assert_eq!(
            submission.image,
            ImageChoice::Local("mlbench/runtime:0.1.0".into())
        );
        form.focus = IMAGE;
        form.cycle(2);
        assert_eq!(form.image(), ImageChoice::Build);
        form.cycle(1);
        assert_eq!(
            form.errors()[IMAGE].as_deref(),
            Some("type the name of the image to pull")
        );
        for c in "python:3.11".chars() {
            form.type_char(c);
        }
        assert_eq!(form.image(), ImageChoice::Pull("python:3.11".into()));
        form.text[REPO] = "/no/such/folder".into();
        assert_eq!(form.errors()[REPO].as_deref(), Some("no such folder"));
    }
}
