//! The experiment config the shell reads (`www/experiment.json`), checked as the shell checks it
//! (its JSON Schema, `www/experiment.schema.json`, then the rules a schema cannot state) and read
//! as far as the collector needs it: arms, weights, champion.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use wasm_predict_manifest::Manifest;

use crate::site::Site;

/// Where the config served to the shell is among the site's files.
pub const SERVED_CONFIG: &str = "www/experiment.json";

/// One arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Its name.
    pub name: String,
    /// The bundle it serves, `name@version`.
    pub bundle: String,
    /// Its share of clients.
    pub weight: f64,
}

impl Arm {
    /// The bundle's (name, version).
    pub fn bundle_id(&self) -> Result<(&str, &str)> {
        self.bundle
            .split_once('@')
            .ok_or_else(|| anyhow!("arm {}: bundle `{}` is not name@version", self.name, self.bundle))
    }
}

/// The fields of the shell's experiment config the reports use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Experiment id.
    pub id: String,
    /// The fallback arm.
    pub champion: String,
    /// The kill switch.
    pub enabled: bool,
    /// `split` or `shadow`.
    pub mode: String,
    /// Arms.
    pub arms: Vec<Arm>,
    /// The arm that serves when the champion cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// How the reports judge it.
    #[serde(default)]
    pub analysis: Analysis,
}

/// The config's `analysis`: the significance level, power, smallest effect worth detecting and
/// the sequential test's tuning (`www/experiment.schema.json` documents each).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Analysis {
    /// Significance level.
    pub alpha: f64,
    /// Power for the sample size.
    pub power: f64,
    /// Absolute difference in accuracy or mean absolute error worth detecting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_detectable_effect: Option<f64>,
    /// Outcomes at which the always-valid interval is narrowest.
    pub sequential_tuning: f64,
}

impl Default for Analysis {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            power: 0.8,
            minimum_detectable_effect: None,
            sequential_tuning: crate::reports::sequential::DEFAULT_TUNING,
        }
    }
}

/// The experiment config's JSON Schema, the one the shell checks configs with.
const SCHEMA: &str = include_str!("../../../www/experiment.schema.json");

/// The first way `config` breaks the schema, as `path: what is wrong` with the path written as
/// the shell writes it (`arms[0].bundle`), or `None`.
fn schema_problem(config: &serde_json::Value) -> Result<Option<String>> {
    // Every report request reads its config: the schema is compiled once per process.
    static VALIDATOR: std::sync::OnceLock<Result<jsonschema::Validator, String>> = std::sync::OnceLock::new();
    let validator = VALIDATOR
        .get_or_init(|| {
            let schema: serde_json::Value = serde_json::from_str(SCHEMA).map_err(|e| e.to_string())?;
            jsonschema::validator_for(&schema).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| anyhow!("the experiment schema: {e}"))?;
    let problem = validator.iter_errors(config).next().map(|error| {
        let mut path = String::new();
        for part in error.instance_path.to_string().split('/').filter(|p| !p.is_empty()) {
            if part.chars().all(|c| c.is_ascii_digit()) {
                path.push_str(&format!("[{part}]"));
            } else {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(part);
            }
        }
        format!("{}: {error}", if path.is_empty() { "the config" } else { &path })
    });
    Ok(problem)
}

impl Experiment {
    /// Reads and checks an experiment config file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Reads and checks the config `text` of the file `described`.
    pub fn parse(text: &[u8], described: &str) -> Result<Self> {
        let config: serde_json::Value =
            serde_json::from_slice(text).with_context(|| format!("{described}: not JSON"))?;
        Experiment::from_config(&config).with_context(|| format!("{described}: not a usable experiment config"))
    }

    /// Checks a parsed config as the shell does (`validateExperiment` in `www/shell/experiment.js`)
    /// and reads it.
    pub fn from_config(config: &serde_json::Value) -> Result<Self> {
        if let Some(problem) = schema_problem(config)? {
            bail!("{problem}");
        }
        let experiment: Experiment = serde_json::from_value(config.clone())?;
        let mut names = std::collections::HashSet::new();
        for (i, arm) in experiment.arms.iter().enumerate() {
            if !names.insert(arm.name.as_str()) {
                bail!("arms[{i}].name \"{}\" is used twice", arm.name);
            }
        }
        let total: f64 = experiment.arms.iter().map(|a| a.weight).sum();
        if (total - 1.0).abs() > 0.01 {
            bail!("arm weights must sum to 1, they sum to {total}");
        }
        if !names.contains(experiment.champion.as_str()) {
            bail!("champion \"{}\" is not one of the arms", experiment.champion);
        }
        if let Some(fallback) = &experiment.fallback {
            if !names.contains(fallback.as_str()) || *fallback == experiment.champion {
                bail!("fallback \"{fallback}\" must be one of the arms other than the champion");
            }
        }
        Ok(experiment)
    }

    /// The champion arm.
    pub fn champion_arm(&self) -> &Arm {
        self.arms
            .iter()
            .find(|a| a.name == self.champion)
            .unwrap_or(&self.arms[0])
    }
}

/// The experiment configs the collector judges: the one it serves to the shell, and those of a
/// folder (one JSON file each) for other experiments writing to the same store. Read on each
/// use, so an edited config counts at once.
#[derive(Debug, Clone)]
pub struct Configs {
    /// The config served at `/www/experiment.json`: this file, or the site's own when `None`.
    pub served: Option<PathBuf>,
    /// Where the site's files are.
    pub site: Site,
    /// A folder of more configs.
    pub folder: Option<PathBuf>,
}

/// A config file of the folder that cannot be used, and why.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenConfig {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub error: String,
}

impl Configs {
    /// Every usable config (the served one first; a later file with the same id is skipped) and
    /// the folder's files that are not.
    pub fn all(&self) -> Result<(Vec<Experiment>, Vec<BrokenConfig>)> {
        let mut found = vec![self.served()?];
        let mut broken = Vec::new();
        if let Some(folder) = &self.folder {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
                .with_context(|| format!("reading the experiments folder {}", folder.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|e| e == "json") && Some(path) != self.served.as_ref())
                .collect();
            paths.sort();
            for path in paths {
                match Experiment::read(&path) {
                    Ok(e) if found.iter().any(|f| f.id == e.id) => broken.push(BrokenConfig {
                        path: path.display().to_string(),
                        error: format!("experiment id \"{}\" is already configured", e.id),
                    }),
                    Ok(e) => found.push(e),
                    Err(e) => broken.push(BrokenConfig {
                        path: path.display().to_string(),
                        error: format!("{e:#}"),
                    }),
                }
            }
        }
        Ok((found, broken))
    }

    /// The text of the config served to the shell.
    pub fn served_text(&self) -> Result<Cow<'static, [u8]>> {
        match &self.served {
            Some(path) => Ok(Cow::Owned(
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )),
            None => self.site.read(SERVED_CONFIG),
        }
    }

    /// The config served to the shell, checked.
    pub fn served(&self) -> Result<Experiment> {
        let described = match &self.served {
            Some(path) => path.display().to_string(),
            None => self.site.locate(SERVED_CONFIG),
        };
        Experiment::parse(&self.served_text()?, &described)
    }

    /// The config of experiment `id`, or the served one when `None`.
    pub fn get(&self, id: Option<&str>) -> Result<Experiment> {
        let Some(id) = id else {
            return self.served();
        };
        let (found, _) = self.all()?;
        found.into_iter().find(|e| e.id == id).ok_or_else(|| {
            anyhow!(
                "experiment \"{id}\" has no config: put its experiment.json in the folder given to `serve --experiments`"
            )
        })
    }
}

/// Most manifests [`Bundles::cached`] keeps (events name their model: a sender of made-up names
/// must not grow it without bound).
const CACHED_MANIFESTS: usize = 256;
/// How long a model found missing is not looked for again.
const RETRY_MISSING: std::time::Duration = std::time::Duration::from_secs(60);

type ManifestCache = HashMap<(String, String), (std::time::Instant, Option<Arc<Manifest>>)>;

/// The site's bundles: `models/<name>/<version>/manifest.json`.
#[derive(Debug, Clone)]
pub struct Bundles {
    site: Site,
    cache: Arc<Mutex<ManifestCache>>,
}

impl Bundles {
    /// The bundles `site` serves.
    pub fn new(site: Site) -> Self {
        Self {
            site,
            cache: Arc::default(),
        }
    }

    /// The manifest of `name@version` from memory after its first read, `None` when there is no
    /// such bundle (or the names could leave the models folder). For ingest, which must not wait
    /// on the disk for every event.
    pub fn cached(&self, name: &str, version: &str) -> Option<Arc<Manifest>> {
        let safe = |part: &str| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
        };
        if !safe(name) || !safe(version) {
            return None;
        }
        let key = (name.to_string(), version.to_string());
        let mut cache = self.cache.lock().ok()?;
        if let Some((read_at, manifest)) = cache.get(&key) {
            if manifest.is_some() || read_at.elapsed() < RETRY_MISSING {
                return manifest.clone();
            }
        }
        let manifest = self.manifest(name, version).ok().map(Arc::new);
        if cache.len() >= CACHED_MANIFESTS {
            cache.clear();
        }
        cache.insert(key, (std::time::Instant::now(), manifest.clone()));
        manifest
    }

    /// The manifest of `name@version`.
    pub fn manifest(&self, name: &str, version: &str) -> Result<Manifest> {
        let path = format!("models/{name}/{version}/manifest.json");
        let bytes = self.site.read(&path)?;
        Manifest::from_json(&bytes).with_context(|| self.site.locate(&path))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use serde_json::Value;

    use super::Experiment;

    /// The cases the shell's test uses too (`tests/browser/experiment-config.test.mjs`).
    const CASES: &str = include_str!("../../../tests/cases/experiment-configs.json");

    /// The base config with `set` applied: dotted paths, a null value deletes.
    fn patched(base: &Value, set: &Value) -> Value {
        let mut config = base.clone();
        for (path, value) in set.as_object().unwrap() {
            let keys: Vec<&str> = path.split('.').collect();
            let (last, parents) = keys.split_last().unwrap();
            let mut node = &mut config;
            for key in parents {
                node = match key.parse::<usize>() {
                    Ok(i) => &mut node[i],
                    Err(_) => &mut node[*key],
                };
            }
            match (value.is_null(), last.parse::<usize>()) {
                (true, _) => drop(node.as_object_mut().unwrap().remove(*last)),
                (false, Ok(i)) => node[i] = value.clone(),
                (false, Err(_)) => node[*last] = value.clone(),
            }
        }
        config
    }

    #[test]
    fn configs_are_judged_as_the_shell_judges_them() {
        let cases: Value = serde_json::from_str(CASES).unwrap();
        for set in cases["valid"].as_array().unwrap() {
            let config = patched(&cases["base"], set);
            if let Err(e) = Experiment::from_config(&config) {
                panic!("{set} should be valid: {e:#}");
            }
        }
        let demo: Value = serde_json::from_str(include_str!("../../../www/experiment.json")).unwrap();
        Experiment::from_config(&demo).unwrap();
        for case in cases["invalid"].as_array().unwrap() {
            let config = patched(&cases["base"], &case["set"]);
            let error = case["error"].as_str().unwrap();
            match Experiment::from_config(&config) {
                Ok(_) => panic!("{} should be refused", case["set"]),
                Err(e) => assert!(
                    format!("{e:#}").contains(error),
                    "{}: {e:#} does not name {error}",
                    case["set"]
                ),
            }
        }
    }
}
