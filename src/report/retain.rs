//! `shipit retain`: per repository, what goes and why every survivor stays.

use crate::pipeline::retain::RepoRetention;
use crate::retention::Decision;

use super::Style;

pub fn render(results: &[RepoRetention], applied: bool, style: Style) -> String {
    let mut out = String::new();
    for r in results {
        let verb = if applied { "removed" } else { "would remove" };
        out.push_str(&format!(
            "{} {}\n",
            style.bold(&format!("{} ({})", r.service, r.repository)),
            style.dim(&format!(
                "{} {verb}, {} kept",
                r.removals(),
                r.decisions.len() - r.removals()
            ))
        ));
        for d in &r.decisions {
            let (label, digest, tags, why) = match d {
                Decision::Delete { digest, tags, why } => (
                    if applied { "deleted" } else { "delete" },
                    digest,
                    tags,
                    why,
                ),
                Decision::Untag { digest, tags, why } => (
                    if applied { "untagged" } else { "untag" },
                    digest,
                    tags,
                    why,
                ),
                Decision::Keep { digest, tags, why } => ("keep", digest, tags, why),
            };
            let tags = if tags.is_empty() {
                "(untagged)".to_string()
            } else {
                tags.join(" ")
            };
            let label = if label == "keep" {
                style.dim(label)
            } else {
                style.yellow(label)
            };
            out.push_str(&format!(
                "  {label:8}  {}  {tags}  {}\n",
                crate::pipeline::short_digest(digest),
                style.dim(&format!("({why})"))
            ));
        }
        for n in &r.not_done {
            out.push_str(&format!("  {} {n}\n", style.red("not done:")));
        }
    }
    if results.is_empty() {
        out.push_str("no service has an image\n");
    }
    if !applied && results.iter().any(|r| r.removals() > 0) {
        out.push_str(&format!(
            "{}\n",
            style.dim("a dry run: pass --apply to remove")
        ));
    }
    out
}
