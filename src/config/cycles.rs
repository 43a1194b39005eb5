//! Cycles in `depends_on`, found with petgraph: each strongly connected set of services is one
//! knot, reported once as a closed path through it (`a → b → a`).

use std::collections::BTreeMap;

use petgraph::algo::{astar, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex};

/// Whether a dependency graph (each service with the services it depends on) has no cycle:
/// Kahn's algorithm over indices, a hash lookup an edge. Most configs have none, and [`cycles`]
/// is asked to find and name them only when there are.
pub fn acyclic<'a, G, D>(graph: G) -> bool
where
    G: IntoIterator<Item = (&'a str, D)> + Clone,
    D: IntoIterator<Item = &'a str>,
{
    let index: foldhash::HashMap<&str, usize> = graph
        .clone()
        .into_iter()
        .enumerate()
        .map(|(i, (name, _))| (name, i))
        .collect();
    let mut waiting = vec![0usize; index.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); index.len()];
    for (name, deps) in graph {
        let Some(&i) = index.get(name) else { continue };
        for dep in deps {
            if let Some(&d) = index.get(dep) {
                waiting[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
    let mut done = 0;
    while let Some(d) = ready.pop() {
        done += 1;
        for &i in &dependents[d] {
            waiting[i] -= 1;
            if waiting[i] == 0 {
                ready.push(i);
            }
        }
    }
    done == waiting.len()
}

/// Every cycle in a dependency graph (service → the services it depends on), one per knot, each as
/// the path that closes it. A knot's path starts at its first name and leaves by that service's
/// first dependency in the knot, then takes the shortest way back. Knots come in order of their
/// first names.
pub fn cycles<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    let mut g: DiGraph<&str, ()> = DiGraph::new();
    // Nodes are added in name order, so a smaller index is a smaller name.
    let index: BTreeMap<&str, NodeIndex> = graph.keys().map(|&n| (n, g.add_node(n))).collect();
    for (from, deps) in graph {
        for dep in deps {
            if let Some(&to) = index.get(dep) {
                g.add_edge(index[from], to, ());
            }
        }
    }
    let mut knots: Vec<Vec<NodeIndex>> = tarjan_scc(&g)
        .into_iter()
        .filter(|k| k.len() > 1 || g.contains_edge(k[0], k[0]))
        .map(|mut k| {
            k.sort();
            k
        })
        .collect();
    knots.sort();
    let mut out = Vec::new();
    for knot in knots {
        let start = knot[0];
        let first_dep = graph[g[start]]
            .iter()
            .filter_map(|d| index.get(d).copied())
            .find(|d| knot.binary_search(d).is_ok());
        let Some(next) = first_dep else { continue };
        // Every path from `next` back to `start` stays in the knot.
        let Some((_, back)) = astar(&g, next, |n| n == start, |_| 1u32, |_| 0) else {
            continue;
        };
        let mut cycle = vec![g[start]];
        cycle.extend(back.into_iter().map(|n| g[n]));
        out.push(cycle);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(edges: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    /// The quick check says "no cycle" exactly when no cycle is found.
    #[test]
    fn acyclic_agrees_with_the_cycles_found() {
        let graphs: [&[(&str, &[&str])]; 6] = [
            &[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])],
            &[("a", &["b"]), ("b", &["a"])],
            &[("a", &["a"])],
            &[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])],
            &[("a", &["x"]), ("b", &["a", "a"])],
            &[],
        ];
        for edges in graphs {
            let g = graph(edges);
            let named = g.iter().map(|(n, deps)| (*n, deps.iter().copied()));
            assert_eq!(acyclic(named), cycles(&g).is_empty(), "{edges:?}");
        }
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

    #[test]
    fn a_service_that_depends_on_itself_is_a_cycle() {
        let g = graph(&[("a", &["a"]), ("b", &["a"])]);
        assert_eq!(cycles(&g), vec![vec!["a", "a"]]);
    }

    #[test]
    fn the_way_back_is_the_shortest() {
        // a → b → c → d → a, and a shortcut c → a: the knot is reported once, as a → b → c → a.
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["d", "a"]),
            ("d", &["a"]),
        ]);
        assert_eq!(cycles(&g), vec![vec!["a", "b", "c", "a"]]);
    }

    #[test]
    fn unknown_dependencies_are_not_edges() {
        let g = graph(&[("a", &["nope"]), ("b", &[])]);
        assert!(cycles(&g).is_empty());
    }
}
