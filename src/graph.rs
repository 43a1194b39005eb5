//! The service graph: cycles in `depends_on`, and which services a set of direct hits affects.
//! Pure functions over names and indices; no git, no I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::changes::Classified;
use crate::config::Config;

/// Why a service is affected: the JSON reasons of `shipit affected`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Reason {
    /// A changed file under the service's path or includes.
    File { file: String },
    /// A changed file under `global.triggers`.
    Trigger { file: String },
    /// A service it depends on is affected.
    Dependency { service: String },
    /// Every service was selected, for this reason.
    All { why: String },
}

/// One affected service: its index in `config.services` and every rule that put it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub service: usize,
    pub reasons: Vec<Reason>,
}

/// Every service, each with the same reason: when no base can be had, or when asked for all.
pub fn all(config: &Config, why: &str) -> Vec<Hit> {
    (0..config.services.len())
        .map(|service| Hit {
            service,
            reasons: vec![Reason::All {
                why: why.to_string(),
            }],
        })
        .collect()
}

/// The affected services, sorted by name, from the classified changes: direct hits, every service
/// when a trigger fired, then whatever depends on an affected service, transitively.
pub fn affected(config: &Config, changes: &Classified) -> Vec<Hit> {
    let n = config.services.len();
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); n];
    for (service, files) in changes.direct.iter().enumerate() {
        reasons[service].extend(files.iter().map(|f| Reason::File { file: f.clone() }));
    }
    if !changes.triggers.is_empty() {
        for r in reasons.iter_mut() {
            r.extend(
                changes
                    .triggers
                    .iter()
                    .map(|f| Reason::Trigger { file: f.clone() }),
            );
        }
    }

    let index: BTreeMap<&str, usize> = config
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in config.services.iter().enumerate() {
        for dep in &s.depends_on {
            if let Some(&d) = index.get(dep.as_str()) {
                dependents[d].push(i);
            }
        }
    }
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| !reasons[i].is_empty()).collect();
    let mut reached: Vec<bool> = (0..n).map(|i| !reasons[i].is_empty()).collect();
    while let Some(d) = queue.pop_front() {
        for &dependent in &dependents[d] {
            reasons[dependent].push(Reason::Dependency {
                service: config.services[d].name.clone(),
            });
            if !reached[dependent] {
                reached[dependent] = true;
                queue.push_back(dependent);
            }
        }
    }

    // Services are sorted by name in the config, so index order is name order.
    reasons
        .into_iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(service, mut reasons)| {
            reasons.sort();
            reasons.dedup();
            Hit { service, reasons }
        })
        .collect()
}

/// Every cycle in a dependency graph, each once, as the path that closes it (`a → b → a`).
pub fn cycles<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        found: &mut Vec<Vec<&'a str>>,
        seen: &mut BTreeSet<Vec<&'a str>>,
    ) {
        marks.insert(node, Mark::Open);
        stack.push(node);
        for &next in graph.get(node).map(Vec::as_slice).unwrap_or(&[]) {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::New => visit(next, graph, marks, stack, found, seen),
                Mark::Open => {
                    let start = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[start..].to_vec();
                    // One cycle found from different starts is still one cycle.
                    let mut key = cycle.clone();
                    key.sort();
                    if seen.insert(key) {
                        cycle.push(next);
                        found.push(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for &node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            visit(
                node,
                graph,
                &mut marks,
                &mut Vec::new(),
                &mut found,
                &mut seen,
            );
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(edges: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    #[test]
    fn no_cycle_in_a_diamond() {
        let g = graph(&[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])]);
        assert!(cycles(&g).is_empty());
    }

    #[test]
    fn a_cycle_is_reported_once_as_a_closed_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]);
        assert_eq!(cycles(&g), vec![vec!["a", "b", "c", "a"]]);
    }

    #[test]
    fn two_separate_cycles() {
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("x", &["y"]), ("y", &["x"])]);
        assert_eq!(cycles(&g), vec![vec!["a", "b", "a"], vec!["x", "y", "x"]]);
    }
}
