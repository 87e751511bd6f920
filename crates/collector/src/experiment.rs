//! The experiment config the shell reads (`www/experiment.json`), as far as the collector needs
//! it: arms, weights, champion, and where the bundles are.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use wasm_predict_manifest::Manifest;

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
}

impl Experiment {
    /// Reads and checks an experiment config file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let experiment: Experiment =
            serde_json::from_slice(&text).with_context(|| format!("{}: not an experiment config", path.display()))?;
        if experiment.arms.is_empty() {
            bail!("{}: no arms", path.display());
        }
        if !experiment.arms.iter().any(|a| a.name == experiment.champion) {
            bail!("{}: champion `{}` is not an arm", path.display(), experiment.champion);
        }
        for arm in &experiment.arms {
            arm.bundle_id()?;
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

/// Where bundles live: `<root>/<name>/<version>/manifest.json`.
#[derive(Debug, Clone)]
pub struct Bundles {
    /// The models folder.
    pub root: PathBuf,
}

impl Bundles {
    /// The manifest of `name@version`.
    pub fn manifest(&self, name: &str, version: &str) -> Result<Manifest> {
        let path = self.root.join(name).join(version).join("manifest.json");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Manifest::from_json(&bytes).with_context(|| format!("{}", path.display()))
    }
}
