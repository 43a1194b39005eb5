//! Images that `skaffold.yaml` builds: `build.artifacts[]` (`context`, `docker.dockerfile`,
//! `docker.buildArgs`, `docker.target`) of every document in it.

use std::path::Path;

use super::{Image, join_clean, yaml};

pub(super) const FILE: &str = "skaffold.yaml";

pub(super) fn read(root: &Path, images: &mut Vec<Image>, notes: &mut Vec<String>) {
    let path = root.join(FILE);
    if !path.is_file() {
        return;
    }
    let docs = match yaml::load(&path) {
        Ok(d) => d,
        Err(why) => {
            notes.push(format!("{FILE}: not read ({why})"));
            return;
        }
    };
    for doc in &docs {
        let Some(artifacts) = doc["build"]["artifacts"].as_vec() else {
            continue;
        };
        for a in artifacts {
            let name = yaml::text(&a["image"]).unwrap_or_default();
            let from = format!("{FILE} (artifact `{name}`)");
            let context = yaml::text(&a["context"]).unwrap_or_else(|| ".".to_string());
            let docker = &a["docker"];
            let dockerfile =
                yaml::text(&docker["dockerfile"]).unwrap_or_else(|| "Dockerfile".to_string());
            let Some(context) = join_clean("", &context) else {
                notes.push(format!(
                    "{from}: its context is outside the repository: left out"
                ));
                continue;
            };
            let Some(dockerfile) =
                join_clean(&context, &dockerfile).filter(|d| root.join(d).is_file())
            else {
                // Jib, Bazel, ko, buildpacks: no Dockerfile, nothing shipit builds.
                notes.push(format!("{from}: no Dockerfile in the repository: left out"));
                continue;
            };
            images.push(Image {
                dockerfile,
                context,
                args: yaml::pairs(&docker["buildArgs"]).into_iter().collect(),
                args_from_env: false,
                target: yaml::text(&docker["target"]),
                from,
            });
        }
    }
}
