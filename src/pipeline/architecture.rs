//! Before a rollout: the CPU architecture a task definition asks for
//! (`runtimePlatform.cpuArchitecture`: `X86_64` or `ARM64`; absent, `X86_64`, as Fargate takes it)
//! must be among the platforms of the image it will run (`platforms` of ci.toml, an index's
//! children, a single image's config). ECS checks nothing of this: a task on the wrong
//! architecture fails at start (`exec format error`), after the deployment began.

use crate::config::{Config, Environment};

/// The architecture an image platform (`os/arch[/variant]`) names, in ECS's words.
fn ecs_architecture(platform: &str) -> Option<&'static str> {
    let mut parts = platform.split('/');
    let (os, arch) = (parts.next()?, parts.next()?);
    match (os, arch) {
        ("linux", "amd64") => Some("X86_64"),
        ("linux", "arm64") => Some("ARM64"),
        _ => None,
    }
}

/// The CPU architecture a task definition file asks for: `runtimePlatform.cpuArchitecture`, else
/// `X86_64`. `None` when the file cannot be read as a task definition (its own check says why).
fn cpu_architecture(text: &str) -> Option<String> {
    let rendered = crate::ecs::render::Rendered::from_file(text).ok()?;
    Some(
        rendered
            .body()
            .get("runtimePlatform")
            .and_then(|p| p.get("cpuArchitecture"))
            .and_then(|a| a.as_str())
            .unwrap_or("X86_64")
            .to_string(),
    )
}

/// For each `(service, platforms of its image)` with a task definition file in `env`: a problem
/// when the file's CPU architecture is not among the platforms. Services without a file (the
/// task definition ECS runs now is rendered from) are not judged here.
pub fn check(config: &Config, env: &Environment, images: &[(&str, &[String])]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, platforms) in images {
        let Some(service) = config.service(name) else {
            continue;
        };
        let build = service.build(env);
        if platforms.is_empty() || build.clusters.is_empty() {
            continue;
        }
        let Some(file) = &build.task_definition else {
            continue;
        };
        let Ok(text) =
            crate::limits::read_to_string(&config.root.join(file), crate::limits::DEFINITION_FILE)
        else {
            continue;
        };
        let Some(cpu) = cpu_architecture(&text) else {
            continue;
        };
        if platforms
            .iter()
            .any(|p| ecs_architecture(p) == Some(cpu.as_str()))
        {
            continue;
        }
        problems.push(format!(
            "{name}: the task definition {file} runs on {cpu} (runtimePlatform.cpuArchitecture{}), but the image is for {}",
            match text.contains("cpuArchitecture") {
                true => "",
                false => " absent: X86_64",
            },
            platforms.join(", ")
        ));
    }
    problems
}

/// What to do about a problem of [`check`].
pub const HELP: &str = "add the platform to `platforms` in ci.toml (linux/amd64 for X86_64, linux/arm64 for ARM64), or set `runtimePlatform.cpuArchitecture` in the task definition to one the image has";

#[cfg(test)]
mod tests {
    #[test]
    fn the_architecture_of_a_task_definition_is_read_as_ecs_defaults_it() {
        assert_eq!(
            super::cpu_architecture(
                r#"{"family":"f","containerDefinitions":[{"name":"api","image":"x"}]}"#
            )
            .as_deref(),
            Some("X86_64")
        );
        assert_eq!(
            super::cpu_architecture(
                r#"{"family":"f","runtimePlatform":{"cpuArchitecture":"ARM64"},"containerDefinitions":[{"name":"api","image":"x"}]}"#
            )
            .as_deref(),
            Some("ARM64")
        );
        assert_eq!(super::ecs_architecture("linux/arm64/v8"), Some("ARM64"));
        assert_eq!(super::ecs_architecture("linux/amd64"), Some("X86_64"));
        assert_eq!(super::ecs_architecture("windows/amd64"), None);
    }
}
